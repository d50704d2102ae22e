"""``/v1/roles``: anyone may read roles; an admin adds, changes and deletes them.

The built-in ``Admin`` role (``admin: true``) is the only admin role: no other may claim ``admin``, and
``Admin`` itself cannot change or go (403). Deleting a role also takes it off every user, so a later
role of the same name is not granted to anyone by accident.
"""

from __future__ import annotations

from strata.authn import errors
from strata.authn.context import Call
from strata.authn.model import ADMIN_ROLE, RoleIn, decode, role_from, role_json
from strata.core.errors import Forbidden, MethodNotAllowed
from strata.server.http import Response
from strata.server.responses import empty_response, json_response


def handle(call: Call) -> Response:
    name = call.name("role")
    if call.method == "GET":
        data = call.service.store.data
        if name is None:
            return json_response([role_json(role, data.clusters) for _, role in sorted(data.roles.items())])
        role = data.roles.get(name)
        if role is None:
            raise errors.role_not_found(name)
        return json_response(role_json(role, data.clusters))
    if call.method == "POST" and name is None:
        return _add(call)
    if call.method == "PUT" and name is not None:
        return _update(call, name)
    if call.method == "DELETE" and name is not None:
        return _delete(call, name)
    raise MethodNotAllowed(f"{call.method} is not supported on /v1/roles{'/' + name if name else ''}")


def _add(call: Call) -> Response:
    call.require_admin()
    role = role_from(decode(call.body, RoleIn, "add role"))
    if role.admin:
        raise Forbidden(f"role {role.name}: only the built-in {ADMIN_ROLE} role is an admin role")
    with call.service.store.change() as data:
        if role.name in data.roles:
            raise errors.role_exists(role.name)
        data.roles[role.name] = role
    return empty_response(200)


def _update(call: Call, name: str) -> Response:
    call.require_admin()
    if name == ADMIN_ROLE:
        raise Forbidden(f"the built-in role {ADMIN_ROLE} cannot change")
    role = role_from(decode(call.body, RoleIn, "update role"), name)
    if role.admin:
        raise Forbidden(f"role {name}: only the built-in {ADMIN_ROLE} role is an admin role")
    with call.service.store.change() as data:
        if name not in data.roles:
            raise errors.role_not_found(name)
        data.roles[name] = role
    return empty_response(200)


def _delete(call: Call, name: str) -> Response:
    call.require_admin()
    if name == ADMIN_ROLE:
        raise Forbidden(f"the built-in role {ADMIN_ROLE} cannot be deleted")
    with call.service.store.change() as data:
        if data.roles.pop(name, None) is None:
            raise errors.role_not_found(name)
        for user in data.users.values():
            if name in user.roles:
                user.roles.remove(name)
    return empty_response(200)
