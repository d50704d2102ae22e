#!/usr/bin/env bash
# Run every foundation benchmark and append a dated section to bench/RESULTS.md.
#   bench/run_all.sh                 # GET 4 KiB, GET 1 MiB, PUT 4 KiB, LIST 1M objects
#   bench/run_all.sh --sdk           # extra options go to `python -m bench.foundation all`
# The populated 1M-object bucket is kept in $BENCH_LIST_DATA (default /tmp/strata-bench-list1m)
# and reused by later runs; delete that directory to measure population again.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in nginx wrk; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y nginx wrk" >&2; exit 2; }
done
list_data="${BENCH_LIST_DATA:-/tmp/strata-bench-list1m}"
exec python -m bench.foundation all --list-data "$list_data" --results bench/RESULTS.md "$@"
