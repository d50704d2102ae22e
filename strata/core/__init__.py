"""The bottom layer: what every other package may import, and which imports no other Strata package.

- ``names``: bucket references (``BucketRef``, providers, namespaces) and object-name validation.
- ``errors``: the one error tree; each error carries its HTTP status (fronts map it to their shape).
- ``hrw``: AIStore's highest-random-weight placement, the pure function that places objects on
  targets and on mountpaths.
- ``wire``: the AIS ``/v1`` wire structs shared by nodes and fronts (msgspec).
- ``query`` and ``ranges``: the query string and the HTTP ``Range`` header, parsed once for every front.
- ``metrics``: the node's counters (shared by worker processes) behind ``/metrics``.
"""
