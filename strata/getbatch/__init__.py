"""GetBatch (AIStore's x-moss): many objects and archived files, in request order, as one archive.

The engine, below the fronts: ``model`` (the wire shapes and the validated plan), ``sources`` (where an
entry's bytes come from: this node through the object service, or peers through the peer client),
``assembler`` (entries to archive items, in order), ``spool`` (the multipart answer's buffer), ``work``
(the get-batch job, admission, counters). The HTTP entry point (``GET /v1/ml/moss[/BUCKET]``,
``POST /v1/buckets/B`` with ``{"action": "getbatch"}``) is the AIS front's ``strata.roles.batch``.
"""

from strata.getbatch.model import MossIn, MossOut, MossReq, MossResp

__all__ = ["MossIn", "MossOut", "MossReq", "MossResp"]
