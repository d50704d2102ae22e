"""``/v1/users``: login (``POST /users/<u>``), and users kept by an admin.

- ``POST /users/<u>`` ``{"password", "expires_in": ns|null}`` -> ``{"token"}``; a wrong or empty password
  and an unknown user are the same 401 ``invalid credentials``. null = ``auth.expiration_time``,
  0 = ``auth.max_token_age``; under a minute or over the maximum is a 400.
- ``POST /users`` (admin) ``{"id", "pass", "roles": [Role]}``: roles by name, unknown ones skipped.
- ``GET /users`` (admin) -> ``{"<id>": User}``; ``GET /users/<id>`` (admin or that user) -> User.
- ``PUT /users/<id>``: the user may change the password; an admin also the roles (an empty list keeps
  them: the SDK sends one when only the password changes); the built-in admin keeps its roles.
- ``DELETE /users/<id>`` (admin); the built-in admin cannot be deleted.
"""

from __future__ import annotations

from strata.authn import errors
from strata.authn.config import MIN_TOKEN_AGE_NS
from strata.authn.context import Call
from strata.authn.errors import Unauthorized
from strata.authn.model import LoginIn, User, UserIn, check_name, decode, user_json
from strata.authn.passwords import hash_password, verify_password
from strata.core.errors import Forbidden, InvalidRequest, MethodNotAllowed
from strata.server.http import Response
from strata.server.responses import empty_response, json_response


def handle(call: Call) -> Response:
    name = call.name("user")
    if name is None:
        if call.method == "GET":
            return _list(call)
        if call.method == "POST":
            return _add(call)
    elif call.method == "POST":
        return _login(call, name)
    elif call.method == "GET":
        return _get(call, name)
    elif call.method == "PUT":
        return _update(call, name)
    elif call.method == "DELETE":
        return _delete(call, name)
    raise MethodNotAllowed(f"{call.method} is not supported on /v1/users{'/' + name if name else ''}")


def _lifetime_ns(call: Call, requested: int | None) -> int:
    settings = call.service.settings
    maximum = settings.max_lifetime_ns
    if requested is None:
        return settings.default_lifetime_ns
    if requested == 0:
        return maximum
    if requested < MIN_TOKEN_AGE_NS:
        raise InvalidRequest(f"expires_in {requested}ns is shorter than the minimum (1m)")
    if requested > maximum:
        raise InvalidRequest(f"expires_in {requested}ns is longer than auth.max_token_age")
    return requested


def _login(call: Call, name: str) -> Response:
    message: LoginIn = decode(call.body, LoginIn, "login")
    lifetime = _lifetime_ns(call, message.expires_in)
    data = call.service.store.data
    user = data.users.get(name)
    stored = user.password_hash if user is not None else None
    if not message.password or not verify_password(message.password, stored) or user is None:
        raise Unauthorized(errors.INVALID_CREDENTIALS)
    return json_response({"token": call.service.signer.user_token(user, data, lifetime)})


def _list(call: Call) -> Response:
    call.require_admin()
    data = call.service.store.data
    return json_response(
        {uid: user_json(u, data.roles, data.clusters) for uid, u in sorted(data.users.items())}
    )


def _get(call: Call, name: str) -> Response:
    if call.user != name:
        call.require_admin()
    data = call.service.store.data
    user = data.users.get(name)
    if user is None:
        raise errors.user_not_found(name)
    return json_response(user_json(user, data.roles, data.clusters))


def _add(call: Call) -> Response:
    call.require_admin()
    message: UserIn = decode(call.body, UserIn, "add user")
    user_id = check_name(message.id, "user name")
    if not message.secret:
        raise InvalidRequest(f"user {user_id}: a password is required")
    password_hash = hash_password(message.secret)  # tens of ms: outside the store's lock
    with call.service.store.change() as data:
        if user_id in data.users:
            raise errors.user_exists(user_id)
        roles = [ref.name for ref in message.roles or [] if ref.name in data.roles]
        data.users[user_id] = User(id=user_id, password_hash=password_hash, roles=list(dict.fromkeys(roles)))
    return empty_response(200)


def _update(call: Call, name: str) -> Response:
    admin = call.is_admin
    if call.user != name and not admin:
        raise Forbidden(f"{call.user}: only an admin may change another user")
    message: UserIn = decode(call.body, UserIn, "update user")
    new_roles = [ref.name for ref in message.roles or []]
    if new_roles and not admin:
        raise Forbidden(f"{call.user}: only an admin may change roles")
    if new_roles and name == call.service.admin_name:
        raise Forbidden(f"the roles of the built-in admin {name} cannot change")
    if not new_roles and not message.secret:
        raise InvalidRequest(f"user {name}: nothing to update (give a password or roles)")
    password_hash = hash_password(message.secret) if message.secret else None
    with call.service.store.change() as data:
        user = data.users.get(name)
        if user is None:
            raise errors.user_not_found(name)
        if password_hash is not None:
            user.password_hash = password_hash
        if new_roles:
            user.roles = list(dict.fromkeys(role for role in new_roles if role in data.roles))
    return empty_response(200)


def _delete(call: Call, name: str) -> Response:
    call.require_admin()
    if name == call.service.admin_name:
        raise Forbidden(f"the built-in admin {name} cannot be deleted")
    with call.service.store.change() as data:
        if data.users.pop(name, None) is None:
            raise errors.user_not_found(name)
    return empty_response(200)
