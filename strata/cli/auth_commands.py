"""``strata authn`` (run the AuthN service) and ``strata auth ...`` (talk to one, like ``ais auth``).

Only the parsers live here, so ``--help`` needs neither the SDK nor the service; the verbs are in
``strata.cli.auth``. The AuthN endpoint: ``--url``, else ``$AIS_AUTHN_URL``, else http://localhost:52001.
Calls carry ``$AIS_AUTHN_TOKEN``, else the token ``strata auth login`` saved (``$AIS_AUTHN_TOKEN_FILE``,
else ~/.config/ais/cli/auth.token, where the ``ais`` CLI keeps it too).
"""

from __future__ import annotations

import argparse
import sys
from typing import TypeAlias

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
PERMISSIONS_HELP = (
    "permissions: ro, rw, su, cluster-ro, cluster-rw, bucket-admin, or access names "
    "(GET, OBJ_HEAD, PUT, APPEND, OBJ_DELETE, OBJ_MOVE, PROMOTE, OBJ_UPDATE, BCK_HEAD, OBJ_LIST, PATCH, "
    "BCK_SET_ACL, LIST_BUCKETS, SHOW_CLUSTER, CREATE_BUCKET, DESTROY_BUCKET, MOVE_BUCKET, ADMIN), or a number"
)


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=None,
        help="AuthN endpoint (default: $AIS_AUTHN_URL, else http://localhost:52001)",
    )
    return common


def _verb(sub: SubParsers, name: str, action: str, help_text: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=help_text, parents=[_common()])
    parser.set_defaults(auth_action=action)
    return parser


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def add_auth_commands(sub: SubParsers) -> None:
    server = sub.add_parser("authn", help="run the AuthN service (users, roles, clusters, tokens)")
    server.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")
    server.add_argument("--port", type=int, default=None, help="port (default: the config's, else 52001)")
    server.add_argument("--data", default=None, help="data directory (default: ~/.strata-authn)")
    server.add_argument("--config", default=None, help="AuthN config JSON (default: DATA/authn.json)")

    auth = sub.add_parser("auth", help="talk to an AuthN service: login, users, roles, clusters, tokens")
    verbs = auth.add_subparsers(dest="auth_command", required=True)
    login = _verb(verbs, "login", "login", "log in; the token is saved for later calls")
    login.add_argument("user")
    login.add_argument("-p", "--password", default=None, help="the password (default: ask)")
    login.add_argument(
        "--expires",
        "--expire",
        default=None,
        metavar="DURATION",
        help="token lifetime, e.g. 2h (0 = the maximum)",
    )
    _verb(verbs, "logout", "logout", "revoke the saved token and forget it")

    user = verbs.add_parser("user", help="users: add, ls, rm, update")
    user_verbs = user.add_subparsers(dest="user_command", required=True)
    add = _verb(user_verbs, "add", "user_add", "add a user")
    add.add_argument("user")
    add.add_argument("roles", nargs="*", metavar="ROLE")
    add.add_argument("-p", "--password", default=None, help="the password (default: ask)")
    _json_flag(_verb(user_verbs, "ls", "user_ls", "list users"))
    rm = _verb(user_verbs, "rm", "user_rm", "delete users")
    rm.add_argument("users", nargs="+", metavar="USER")
    update = _verb(user_verbs, "update", "user_update", "change a user's password and/or roles")
    update.add_argument("user")
    update.add_argument("roles", nargs="*", metavar="ROLE", help="the new roles (default: unchanged)")
    update.add_argument("-p", "--password", default=None, help="the new password")

    role = verbs.add_parser("role", help="roles: add, ls, show, rm")
    role_verbs = role.add_subparsers(dest="role_command", required=True)
    radd = _verb(role_verbs, "add", "role_add", "add a role")
    radd.add_argument("role")
    radd.add_argument("cluster", nargs="?", default=None, help="the cluster's ID or alias")
    radd.add_argument("permissions", nargs="*", metavar="PERMISSION", help=PERMISSIONS_HELP)
    radd.add_argument("--bucket", default=None, help="grant the permissions on this ais:// bucket only")
    radd.add_argument("--desc", "--description", default="", help="a description")
    _json_flag(_verb(role_verbs, "ls", "role_ls", "list roles"))
    rshow = _verb(role_verbs, "show", "role_show", "show a role's permissions")
    rshow.add_argument("role")
    _json_flag(rshow)
    rrm = _verb(role_verbs, "rm", "role_rm", "delete roles")
    rrm.add_argument("roles", nargs="+", metavar="ROLE")

    cluster = verbs.add_parser("cluster", help="registered clusters: add, ls, rm")
    cluster_verbs = cluster.add_subparsers(dest="cluster_command", required=True)
    cadd = _verb(cluster_verbs, "add", "cluster_add", "register a cluster (its UUID is asked from URL)")
    cadd.add_argument("alias")
    cadd.add_argument("urls", nargs="+", metavar="URL")
    _json_flag(_verb(cluster_verbs, "ls", "cluster_ls", "list registered clusters"))
    crm = _verb(cluster_verbs, "rm", "cluster_rm", "unregister a cluster (by ID or alias)")
    crm.add_argument("cluster")

    token = verbs.add_parser("token", help="tokens: revoke")
    token_verbs = token.add_subparsers(dest="token_command", required=True)
    revoke = _verb(token_verbs, "revoke", "token_revoke", "revoke a token (the token, or a file holding it)")
    revoke.add_argument("token", metavar="TOKEN|FILE")

    config = verbs.add_parser("config", help="AuthN's config: set (see 'strata auth show config')")
    config_verbs = config.add_subparsers(dest="config_command", required=True)
    cset = _verb(config_verbs, "set", "config_set", "change AuthN's config: expiration_time=2h, secret=...")
    cset.add_argument("assignments", nargs="+", metavar="KEY=VALUE")
    _verb(verbs, "rotate-key", "rotate_key", "make a new RSA signing key (RS256 mode)")

    show = verbs.add_parser("show", help="show users, roles, clusters, config, keys")
    show_verbs = show.add_subparsers(dest="show_command", required=True)
    suser = _verb(show_verbs, "user", "show_user", "show users, or one")
    suser.add_argument("user", nargs="?", default=None)
    _json_flag(suser)
    srole = _verb(show_verbs, "role", "show_role", "show roles, or one")
    srole.add_argument("role", nargs="?", default=None)
    _json_flag(srole)
    scluster = _verb(show_verbs, "cluster", "show_cluster", "show registered clusters, or one")
    scluster.add_argument("cluster", nargs="?", default=None)
    _json_flag(scluster)
    _json_flag(_verb(show_verbs, "config", "show_config", "show AuthN's config (the secret masked)"))
    _verb(show_verbs, "public-key", "show_public_key", "print the RSA public key clusters verify with")
    _verb(show_verbs, "oidc", "show_oidc", "print the OpenID discovery document")
    _verb(show_verbs, "jwks", "show_jwks", "print the JSON Web Key Set")


def run_auth_command(args: argparse.Namespace) -> int:
    if args.command == "authn":
        from strata.authn.daemon import serve_authn

        return serve_authn(host=args.host, port=args.port, data_dir=args.data, config_path=args.config)
    from strata.cli import auth

    return auth.run(args, sys.stdout, sys.stderr)
