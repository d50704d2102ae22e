"""Authentication and authorization: tokens, OIDC keys, principals, the gate, the cluster key.

A layer beside ``storage`` and ``backends``: it imports only ``core`` and ``config``. The fronts ask the
``Gate`` who a request acts for; ``principals.require`` (called by the fronts and by the object
service's bucket check) decides what that principal may do. See each module's docstring:

- ``settings``: the ``auth`` config section (4.0/4.1/5.0 spellings) and ``AIS_AUTHN_*`` overrides;
- ``tokens``: JWT verification (PyJWT), the claims cache;
- ``oidc``: issuer discovery and JWKS by ``kid``;
- ``principals``: token, S3-user and anonymous principals; the request's principal (``CURRENT``);
- ``revoked``: the revocation list;
- ``cluster_key``: signed redirects and node-to-node calls, the nonce ledger;
- ``gate``: all of the above per request.
"""

from strata.auth.gate import Gate
from strata.auth.principals import CURRENT, Principal, await_as, call_as, current, require

__all__ = ["CURRENT", "Gate", "Principal", "await_as", "call_as", "current", "require"]
