"""The ``strata auth`` verbs: the official SDK's AuthN managers, with the CLI's quick-failing retries.

The token ``login`` saves goes where the ``ais`` CLI keeps it (``$AIS_AUTHN_TOKEN_FILE``, else
~/.config/ais/cli/auth.token) as ``{"token": "..."}``, mode 0600; every later call (and the cluster verbs,
through ``saved_token``) sends it unless ``$AIS_AUTHN_TOKEN`` says otherwise.
"""

from __future__ import annotations

import argparse
import getpass
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import requests
from aistore.sdk.authn.cluster_manager import ClusterManager
from aistore.sdk.authn.errors import AuthNError
from aistore.sdk.authn.response_handler import AuthNResponseHandler
from aistore.sdk.authn.role_manager import RoleManager
from aistore.sdk.authn.token_manager import TokenManager
from aistore.sdk.authn.types import TokenMsg
from aistore.sdk.authn.user_manager import UserManager
from aistore.sdk.request_client import RequestClient
from aistore.sdk.response_handler import AISResponseHandler
from aistore.sdk.session_manager import SessionManager

from strata.cli.auth_token import TOKEN_ENV, read_token_text, save_token, saved_token, token_file
from strata.cli.connection import CONNECT_TIMEOUT_SECONDS, cli_retry_config
from strata.cli.errors import CommandError, describe
from strata.cli.formatting import write_json, write_properties
from strata.cli.uri import UsageError
from strata.config.units import parse_duration_ns

DEFAULT_AUTHN_URL = "http://localhost:52001"
URL_ENV = "AIS_AUTHN_URL"
ACCESS_SU = 2**64 - 1
_BITS = [
    *("GET", "OBJ_HEAD", "PUT", "APPEND", "OBJ_DELETE", "OBJ_MOVE", "PROMOTE", "OBJ_UPDATE", "BCK_HEAD"),
    *("OBJ_LIST", "PATCH", "BCK_SET_ACL", "LIST_BUCKETS", "SHOW_CLUSTER", "CREATE_BUCKET", "DESTROY_BUCKET"),
    *("MOVE_BUCKET", "ADMIN"),
]
ACCESS_BITS = {name: 1 << index for index, name in enumerate(_BITS)}
ACCESS_SETS = {
    "ro": 771,
    "rw": 831,
    "su": ACCESS_SU,
    "cluster-ro": 12288,
    "cluster-rw": 126976,
    "bucket-admin": 3200,
}


def describe_perm(perm: int) -> str:
    named = {value: name for name, value in ACCESS_SETS.items()}
    if perm in named:
        return named[perm]
    return ",".join(name for name, bit in ACCESS_BITS.items() if perm & bit) or "none"


def parse_permissions(words: list[str]) -> int:
    perm = 0
    for word in words:
        for part in word.split(","):
            key = part.strip()
            if key.isdigit():
                perm |= int(key)
            elif key.lower() in ACCESS_SETS:
                perm |= ACCESS_SETS[key.lower()]
            elif key.upper().replace("-", "_") in ACCESS_BITS:
                perm |= ACCESS_BITS[key.upper().replace("-", "_")]
            elif key:
                raise UsageError(f'unknown permission "{key}" (try ro, rw, su, GET, PUT, ...)')
    if perm > ACCESS_SU:
        raise UsageError("permissions out of range")
    return perm


@dataclass
class AuthSession:
    url: str
    client: RequestClient
    out: TextIO

    def raw(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call outside the SDK's managers; the JSON answer (None when empty)."""
        response = self.client.request(method, path=path, **kwargs)
        return response.json() if response.content else None

    def outside_v1(self, path: str) -> Any:
        response = requests.get(f"{self.url}{path}", timeout=(CONNECT_TIMEOUT_SECONDS, 30))
        if not response.ok:
            raise CommandError(f"GET {path} answered {response.status_code}: {response.text.strip()[:200]}")
        return response.json()


def _session(args: argparse.Namespace, out: TextIO) -> AuthSession:
    url = (args.url or os.environ.get(URL_ENV) or DEFAULT_AUTHN_URL).rstrip("/")
    if "://" not in url:
        url = "http://" + url
    client = RequestClient(
        endpoint=url,
        session_manager=SessionManager(),
        timeout=(CONNECT_TIMEOUT_SECONDS, 60.0),
        token=saved_token(),
        response_handler=AuthNResponseHandler(),
        retry_config=cli_retry_config(),
    )
    return AuthSession(url, client, out)


def _password(given: str | None, prompt: str) -> str:
    password = given if given is not None else getpass.getpass(prompt)
    if not password.strip():
        raise UsageError("the password cannot be empty")
    return password


# -- verbs -------------------------------------------------------------------------------------------


def _login(s: AuthSession, args: argparse.Namespace) -> int:
    password = _password(args.password, f"Password for {args.user}: ")
    expires = None
    if args.expires is not None:
        try:
            expires = parse_duration_ns(args.expires)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    body = {"password": password, "expires_in": expires}
    token = s.client.request_deserialize(
        "POST", path=f"users/{args.user}", json=body, res_model=TokenMsg
    ).token
    s.out.write(f"Logged in ({save_token(token)})\n")
    return 0


def _logout(s: AuthSession, args: argparse.Namespace) -> int:
    token = saved_token()
    if not token:
        raise CommandError("not logged in (no saved token)")
    try:
        TokenManager(s.client).revoke(token)
    except AuthNError as error:
        if error.status_code != 401:  # a token AuthN no longer knows needs no revoking
            raise
    if not os.environ.get(TOKEN_ENV):
        try:
            os.unlink(token_file())
        except FileNotFoundError:
            pass
    s.out.write("Logged out\n")
    return 0


def _user_add(s: AuthSession, args: argparse.Namespace) -> int:
    password = _password(args.password, f"Password for {args.user}: ")
    UserManager(s.client).create(args.user, list(args.roles), password)
    s.out.write(f"User {args.user} added\n")
    return 0


def _users(s: AuthSession, args: argparse.Namespace) -> int:
    manager = UserManager(s.client)
    name = getattr(args, "user", None)
    users = {name: manager.get(name)} if name else dict(manager.list().items())
    if args.json:
        write_json(s.out, {uid: user.model_dump(exclude={"password"}) for uid, user in users.items()})
        return 0
    s.out.write(f"{'USER':<24} ROLES\n")
    for uid, user in users.items():
        s.out.write(f"{uid:<24} {', '.join(role.name for role in user.roles) or '-'}\n")
    return 0


def _user_rm(s: AuthSession, args: argparse.Namespace) -> int:
    for name in args.users:
        UserManager(s.client).delete(name)
        s.out.write(f"User {name} deleted\n")
    return 0


def _user_update(s: AuthSession, args: argparse.Namespace) -> int:
    if args.password is None and not args.roles:
        raise UsageError("give a new password (-p) and/or roles")
    UserManager(s.client).update(args.user, password=args.password, roles=list(args.roles) or None)
    s.out.write(f"User {args.user} updated\n")
    return 0


def _role_add(s: AuthSession, args: argparse.Namespace) -> int:
    perm = parse_permissions(list(args.permissions))
    role: dict[str, Any] = {"name": args.role, "desc": args.desc, "clusters": [], "buckets": []}
    cluster_id = ClusterManager(s.client).get(cluster_alias=args.cluster).id if args.cluster else ""
    if args.bucket:
        if not cluster_id:
            raise UsageError("--bucket needs the cluster the bucket is in")
        name = args.bucket.removeprefix("ais://").strip("/")
        bck = {"name": name, "provider": "ais", "namespace": {"uuid": cluster_id, "name": ""}}
        role["buckets"] = [{"bck": bck, "perm": str(perm)}]
    elif perm or cluster_id:
        role["clusters"] = [{"id": cluster_id, "perm": str(perm)}]
    s.client.request("POST", path="roles", json=role)
    s.out.write(f"Role {args.role} added\n")
    return 0


def _roles(s: AuthSession, args: argparse.Namespace) -> int:
    name = getattr(args, "role", None)
    roles = [s.raw("GET", f"roles/{name}")] if name else s.raw("GET", "roles")
    if args.json:
        write_json(s.out, roles[0] if name else roles)
        return 0
    if not name:
        s.out.write(f"{'ROLE':<32} DESCRIPTION\n")
        for role in roles:
            s.out.write(f"{role['name']:<32} {role.get('desc') or '-'}\n")
        return 0
    role = roles[0]
    s.out.write(f"Role:        {role['name']}\nDescription: {role.get('desc') or '-'}\n")
    s.out.write(f"Admin:       {'yes' if role.get('admin') else 'no'}\n")
    for acl in role.get("clusters") or []:
        where = acl.get("alias") or acl["id"] or "any cluster"
        s.out.write(f"Cluster {where}: {describe_perm(int(acl.get('perm', 0)))}\n")
    for acl in role.get("buckets") or []:
        bck = acl["bck"]
        s.out.write(f"Bucket {bck['provider']}://{bck['name']}: {describe_perm(int(acl.get('perm', 0)))}\n")
    return 0


def _role_rm(s: AuthSession, args: argparse.Namespace) -> int:
    for name in args.roles:
        RoleManager(s.client).delete(name)
        s.out.write(f"Role {name} deleted\n")
    return 0


def _cluster_add(s: AuthSession, args: argparse.Namespace) -> int:
    urls = [url.rstrip("/") for url in args.urls]
    try:
        uuid = s.client.clone(base_url=urls[0], response_handler=AISResponseHandler()).get_smap().uuid
    except Exception as error:
        raise CommandError(f"cannot get the cluster map from {urls[0]}: {describe(error, urls[0])}") from None
    answer = s.raw("POST", "clusters", json={"id": uuid, "alias": args.alias, "urls": urls}) or {}
    s.out.write(f"Cluster {args.alias} registered (ID {uuid})\n")
    for warning in answer.get("warnings") or []:
        s.out.write(f"Warning: {warning}\n")
    return 0


def _clusters(s: AuthSession, args: argparse.Namespace) -> int:
    name = getattr(args, "cluster", None)
    clusters = s.raw("GET", f"clusters/{name}" if name else "clusters")["clusters"]
    if args.json:
        write_json(s.out, clusters)
        return 0
    s.out.write(f"{'CLUSTER ID':<24} {'ALIAS':<16} URLS\n")
    for cid, cluster in clusters.items():
        s.out.write(f"{cid:<24} {cluster.get('alias') or '-':<16} {', '.join(cluster.get('urls') or [])}\n")
    return 0


def _cluster_rm(s: AuthSession, args: argparse.Namespace) -> int:
    ClusterManager(s.client).delete(cluster_id=args.cluster)
    s.out.write(f"Cluster {args.cluster} unregistered\n")
    return 0


def _token_revoke(s: AuthSession, args: argparse.Namespace) -> int:
    token = args.token
    if os.path.isfile(token):
        with open(token) as file:
            token = read_token_text(file.read())
    TokenManager(s.client).revoke(token)
    s.out.write("Token revoked\n")
    return 0


def _config_set(s: AuthSession, args: argparse.Namespace) -> int:
    change: dict[str, str] = {}
    for word in args.assignments:
        key, sep, value = word.partition("=")
        key = key.removeprefix("auth.")
        if not sep or key not in ("secret", "expiration_time", "max_token_age"):
            raise UsageError(f'expected secret=..., expiration_time=... or max_token_age=..., got "{word}"')
        change[key] = value
    s.client.request("PUT", path="daemon", json={"auth": change})
    s.out.write("AuthN config updated\n")
    return 0


def _show_config(s: AuthSession, args: argparse.Namespace) -> int:
    config = s.raw("GET", "daemon")
    if args.json:
        write_json(s.out, config)
    else:
        write_properties(s.out, config)
    return 0


def _show_public_key(s: AuthSession, args: argparse.Namespace) -> int:
    s.out.write(str(s.raw("GET", "public-key")["public_key"]).rstrip("\n") + "\n")
    return 0


def _rotate_key(s: AuthSession, args: argparse.Namespace) -> int:
    answer = s.raw("POST", "rotate-key")
    s.out.write(f"New signing key {answer['kid']}\n")
    return 0


_ACTIONS: dict[str, Callable[[AuthSession, argparse.Namespace], int]] = {
    "login": _login,
    "logout": _logout,
    "user_add": _user_add,
    "user_ls": _users,
    "user_rm": _user_rm,
    "user_update": _user_update,
    "role_add": _role_add,
    "role_ls": _roles,
    "role_show": _roles,
    "role_rm": _role_rm,
    "cluster_add": _cluster_add,
    "cluster_ls": _clusters,
    "cluster_rm": _cluster_rm,
    "token_revoke": _token_revoke,
    "config_set": _config_set,
    "rotate_key": _rotate_key,
    "show_user": _users,
    "show_role": _roles,
    "show_cluster": _clusters,
    "show_config": _show_config,
    "show_public_key": _show_public_key,
    "show_oidc": lambda s, a: _print_json(s, s.outside_v1("/.well-known/openid-configuration")),
    "show_jwks": lambda s, a: _print_json(s, s.outside_v1("/.well-known/jwks.json")),
}


def _print_json(s: AuthSession, value: Any) -> int:
    write_json(s.out, value)
    return 0


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """One verb; any failure becomes ``Error: <one line>`` and a non-zero status."""
    url = args.url or os.environ.get(URL_ENV) or DEFAULT_AUTHN_URL
    try:
        return _ACTIONS[args.auth_action](_session(args, out), args)
    except UsageError as error:
        err.write(f"Error: {error}\n")
        return 2
    except KeyboardInterrupt:
        err.write("\nInterrupted\n")
        return 130
    except Exception as error:
        message = str(error) if isinstance(error, CommandError) else describe(error, url)
        err.write(f"Error: {message}\n")
        return 1
