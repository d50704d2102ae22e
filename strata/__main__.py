"""``python -m strata`` is the same as the ``strata`` command."""

from strata.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
