"""The job wire shapes the SDK reads: JobSnap (qryxstats), JobStatus (status), and their inputs."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from strata.core.errors import InvalidRequest
from strata.core.names import BucketRef
from strata.jobs.registry import JobRecord

NOT_ENDED = "0001-01-01T00:00:00Z"  # Go's zero time, what AIStore shows for a running job


class JobArgs(msgspec.Struct):
    """The SDK's JobArgs (Go field names): which job(s) a query or a start/stop is about."""

    ID: str = ""
    Kind: str = ""
    DaemonID: str = ""
    Bck: dict[str, Any] | None = None
    Buckets: list[dict[str, Any]] | None = None
    OnlyRunning: bool = False

    def bucket(self) -> BucketRef | None:
        if not self.Bck or not self.Bck.get("name"):
            return None
        namespace = self.Bck.get("namespace") or {}
        ns = f"@{namespace.get('uuid', '')}#{namespace.get('name', '')}" if namespace else ""
        return BucketRef.parse(str(self.Bck["name"]), str(self.Bck.get("provider", "")), ns)


def decode_job_args(value: Any) -> JobArgs:
    try:
        return msgspec.convert(value or {}, JobArgs, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"invalid job arguments: {exc}") from None


def iso_time(ns: int) -> str:
    if not ns:
        return NOT_ENDED
    seconds, rest = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest:09d}Z"


def _bucket_model(key: str) -> dict[str, Any] | None:
    if not key:
        return None
    bck = BucketRef.from_key(key)
    return {
        "name": bck.name,
        "provider": bck.provider,
        "namespace": {"uuid": bck.ns_uuid, "name": bck.ns_name},
    }


def job_snap(record: JobRecord) -> dict[str, Any]:
    """AIStore's ``core.Snap`` as JSON (the SDK's JobSnap)."""
    return {
        "id": record.id,
        "kind": record.kind,
        "start-time": iso_time(record.start_ns),
        "end-time": iso_time(record.end_ns),
        "bck": _bucket_model(record.bck),
        "src-bck": _bucket_model(record.src_bck),
        "dst-bck": _bucket_model(record.dst_bck),
        "stats": {
            "loc-objs": record.objects,
            "loc-bytes": record.bytes,
            "in-objs": record.in_objects,
            "in-bytes": record.in_bytes,
            "out-objs": record.out_objects,
            "out-bytes": record.out_bytes,
        },
        "aborted": record.aborted,
        "is_idle": record.idle or record.finished,
        "abort-err": record.abort_err,
        "glob.id": 0,
    }


def job_status(record: JobRecord) -> dict[str, Any]:
    """AIStore's ``nl.Status`` (the SDK's JobStatus): end_time 0 means still running."""
    return {"uuid": record.id, "err": record.abort_err, "end_time": record.end_ns, "aborted": record.aborted}
