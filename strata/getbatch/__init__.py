"""GetBatch (AIStore's x-moss): many objects and archived files, in request order, as one archive.

``get_batch`` is the HTTP entry point (``GET /v1/ml/moss[/BUCKET]``, ``POST /v1/buckets/B`` with
``{"action": "getbatch"}``). Inside: ``model`` (the wire shapes and the validated plan), ``sources``
(where an entry's bytes come from: local now, peers later), ``assembler`` (entries to archive items, in
order), ``spool`` (the multipart answer's buffer), ``work`` (the get-batch job, admission, counters).
"""

from strata.getbatch.endpoint import get_batch
from strata.getbatch.model import MossIn, MossOut, MossReq, MossResp

__all__ = ["MossIn", "MossOut", "MossReq", "MossResp", "get_batch"]
