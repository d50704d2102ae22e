"""The AuthN service (``strata authn``): AIStore's AuthN REST API, as the SDK's ``AuthNClient`` uses it.

Users, roles and registered clusters live in one local file (``store``); a login answers a JWT signed with
the configured HMAC secret (HS256) or an RSA key the service keeps and rotates (RS256) -- ``tokens``;
revocations are pushed to every registered cluster (``remote``). The REST resources have one handler
module each (``users``, ``roles``, ``clusters``, ``service_api``); ``app`` routes, ``daemon`` serves.

Clusters verify these tokens themselves (``strata.auth`` on the proxy): this package only issues them.
"""
