"""The query string of a request, parsed on first use."""

from __future__ import annotations

from urllib.parse import parse_qs

from strata.core.errors import InvalidRequest

# what nearly every SDK data request carries: one provider (a remote bucket's as often as ais)
_ONE_PROVIDER = {
    f"provider={name}": {"provider": [name]}
    for name in ("ais", "aws", "gcp", "azure", "ht", "s3", "gs", "az", "oci")
}


class Query:
    """The query string, parsed on first use (most GETs and PUTs carry only ``provider=<name>``)."""

    __slots__ = ("_params",)

    def __init__(self, raw: str) -> None:
        known = _ONE_PROVIDER.get(raw)
        if known is not None:  # shared, never changed: nothing writes to a parsed query
            self._params = known
            return
        try:
            self._params = parse_qs(raw, keep_blank_values=True, errors="strict") if raw else {}
        except UnicodeDecodeError:
            raise InvalidRequest("query string is not valid UTF-8") from None

    def get(self, name: str, default: str = "") -> str:
        values = self._params.get(name)
        return values[0] if values else default

    def flag(self, name: str) -> bool:
        values = self._params.get(name)
        if not values:  # most flags are absent: answered without the string work
            return False
        return values[0].lower() in ("true", "1", "yes", "y", "on")

    def items(self) -> list[tuple[str, str]]:
        """Every name with its (first) value, in the order sent: for requests whose names are data."""
        return [(name, values[0]) for name, values in self._params.items()]

    def __contains__(self, name: str) -> bool:
        return name in self._params
