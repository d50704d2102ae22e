"""Bucket operations: ListBuckets, Create/Head/DeleteBucket, location, versioning status, canned ACLs.

S3 buckets are ``ais://`` buckets in the global namespace: creating one goes through the same code as
``/v1`` (``strata.api.buckets``), so a bucket made by either front is the other's too. What S3 adds --
owner, canned ACL, versioning status as last set -- is the bucket's record in ``users.Owners``.
"""

from __future__ import annotations

import re

from strata.config.bucket_props import update_bucket_props
from strata.core.errors import BucketAlreadyExists
from strata.core.names import BucketRef
from strata.core.wire import ActionMsg
from strata.roles import buckets as roles_buckets
from strata.s3.context import S3Context, resolve_bucket
from strata.s3.errors import S3Error, invalid_argument, malformed_xml, no_such_bucket
from strata.s3.users import CANNED_ACLS, BucketRecord, Permission
from strata.s3.xml import XmlWriter, child_text, iso_time, parse, xml_response
from strata.server.http import Response

_S3_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_IP_LIKE = re.compile(r"\d+\.\d+\.\d+\.\d+")


def owner_xml(writer: XmlWriter, name: str) -> None:
    writer.open("Owner").leaf("ID", name or "strata").leaf("DisplayName", name or "strata").close("Owner")


def list_buckets(ctx: S3Context, body: bytes) -> Response:
    # 1. who asks (the front checked LIST-BUCKETS: anonymous callers may not list when auth is on)
    user = ctx.user
    # 2. the buckets S3 names reach (global namespace; cloud ones in the BMD) this caller owns or shares
    records = ctx.owners.all()
    bmd = ctx.node.meta.bmd()
    writer = XmlWriter("ListAllMyBucketsResult")
    owner_xml(writer, ctx.owner_name)
    writer.open("Buckets")
    for bck in bmd.refs():
        if bck.ns_uuid or bck.ns_name or resolve_bucket(ctx.node, bck.name) != bck:
            continue  # namespaced, or a cloud bucket whose name an ais bucket (or another) answers to
        record = records.get(bck.name)
        owner = record.owner if record is not None else ""
        if ctx.auth_enabled and user is not None and not user.admin and owner and owner != user.name:
            continue
        props = bmd.require(bck)
        writer.open("Bucket").leaf("Name", bck.name).leaf("CreationDate", iso_time(props.created))
        writer.close("Bucket")
    writer.close("Buckets")
    return xml_response(writer.document("ListAllMyBucketsResult"))


def _validate_name(name: str) -> None:
    if not _S3_BUCKET_NAME.fullmatch(name) or ".." in name or _IP_LIKE.fullmatch(name):
        raise S3Error("InvalidBucketName", "The specified bucket is not valid.", BucketName=name)


def _canned_acl(ctx: S3Context) -> str:
    acl = ctx.request.headers.get("x-amz-acl", "private")
    if acl not in CANNED_ACLS:
        raise invalid_argument(f"Unsupported canned ACL {acl!r}", "x-amz-acl", acl)
    return acl


def create_bucket(ctx: S3Context, body: bytes) -> Response:
    # 1. validate: S3's naming rules, the canned ACL, the (optional) location document
    _validate_name(ctx.bucket)
    acl = _canned_acl(ctx)
    user = ctx.user
    owner_name = ctx.owner_name  # the front checked CREATE-BUCKET: anonymous callers never get here
    if body.strip():
        root = parse(body)
        if root.tag != "CreateBucketConfiguration":
            raise malformed_xml()
    # 2. create through the /v1 logic; an existing bucket is "yours" or "not available"
    bck = BucketRef.parse(ctx.bucket, "ais")
    try:
        roles_buckets.create_bucket(ctx.node, bck, ActionMsg(action="create-bck"))
    except BucketAlreadyExists:
        record = ctx.owners.get(ctx.bucket)
        owner = record.owner if record is not None else ""
        if not owner_name or owner == owner_name or (not owner and user is not None and user.admin):
            raise S3Error(
                "BucketAlreadyOwnedByYou",
                "The bucket you tried to create already exists, and you own it.",
                409,
                BucketName=ctx.bucket,
            ) from None
        raise S3Error(
            "BucketAlreadyExists",
            "The requested bucket name is not available. Please select a different name and try again.",
            409,
            BucketName=ctx.bucket,
        ) from None
    # 3. record the owner
    ctx.owners.set(ctx.bucket, BucketRecord(owner=owner_name, acl=acl))
    return Response(200, [("Location", f"/{ctx.bucket}")])


def head_bucket(ctx: S3Context, body: bytes) -> Response:
    ctx.props(Permission.READ)
    return Response(200, [("x-amz-bucket-region", ctx.region)])


def delete_bucket(ctx: S3Context, body: bytes) -> Response:
    ctx.props(Permission.OWNER)
    bck = ctx.bck
    for _name in ctx.node.objects.names(bck):
        raise S3Error(
            "BucketNotEmpty", "The bucket you tried to delete is not empty", 409, BucketName=ctx.bucket
        )
    roles_buckets.destroy_bucket(ctx.node, bck)
    ctx.owners.forget(ctx.bucket)
    return Response(204)


def get_location(ctx: S3Context, body: bytes) -> Response:
    ctx.props(Permission.READ)
    region = "" if ctx.region == "us-east-1" else ctx.region
    writer = XmlWriter("LocationConstraint")
    writer.parts.append(region)
    return xml_response(writer.document("LocationConstraint"))


def get_versioning(ctx: S3Context, body: bytes) -> Response:
    ctx.props(Permission.READ)
    record = ctx.owners.get(ctx.bucket)
    writer = XmlWriter("VersioningConfiguration")
    writer.leaf("Status", record.versioning if record is not None and record.versioning else None)
    return xml_response(writer.document("VersioningConfiguration"))


def put_versioning(ctx: S3Context, body: bytes) -> Response:
    """Enabled/Suspended switches the bucket's version counter; only the latest version is kept."""
    ctx.props(Permission.OWNER)
    root = parse(body)
    status = child_text(root, "Status") if root.tag == "VersioningConfiguration" else None
    if status not in ("Enabled", "Suspended"):
        raise malformed_xml()
    bck = ctx.bck
    enabled = status == "Enabled"
    ctx.node.meta.update_bmd(
        lambda bmd: bmd.with_bucket(
            bck, update_bucket_props(bmd.require(bck), {"versioning": {"enabled": enabled}}), replace=True
        )
    )
    _change_record(ctx, versioning=status)
    return Response(200)


def _change_record(ctx: S3Context, *, versioning: str | None = None, acl: str | None = None) -> None:
    def change(records: dict[str, BucketRecord]) -> None:
        record = records.get(ctx.bucket) or BucketRecord()
        if versioning is not None:
            record.versioning = versioning
        if acl is not None:
            record.acl = acl
        records[ctx.bucket] = record

    ctx.owners.update(change)


def get_acl(ctx: S3Context, body: bytes) -> Response:
    ctx.props(Permission.READ)
    record = ctx.owners.get(ctx.bucket) or BucketRecord()
    writer = XmlWriter("AccessControlPolicy")
    owner_xml(writer, record.owner)
    writer.open("AccessControlList")
    grants = [("owner", "FULL_CONTROL")]
    if record.acl in ("public-read", "public-read-write"):
        grants.append(("http://acs.amazonaws.com/groups/global/AllUsers", "READ"))
    if record.acl == "public-read-write":
        grants.append(("http://acs.amazonaws.com/groups/global/AllUsers", "WRITE"))
    if record.acl == "authenticated-read":
        grants.append(("http://acs.amazonaws.com/groups/global/AuthenticatedUsers", "READ"))
    for grantee, permission in grants:
        writer.parts.append('<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ')
        if grantee == "owner":
            writer.parts.append('xsi:type="CanonicalUser">')
            writer.leaf("ID", record.owner or "strata").leaf("DisplayName", record.owner or "strata")
        else:
            writer.parts.append('xsi:type="Group">')
            writer.leaf("URI", grantee)
        writer.close("Grantee").leaf("Permission", permission).close("Grant")
    writer.close("AccessControlList")
    return xml_response(writer.document("AccessControlPolicy"))


def put_acl(ctx: S3Context, body: bytes) -> Response:
    """Canned ACLs only (``x-amz-acl``); grant documents are not supported."""
    ctx.props(Permission.OWNER)
    if "x-amz-acl" not in ctx.request.headers:
        raise S3Error("NotImplemented", "Only canned ACLs (the x-amz-acl header) are supported", 501)
    _change_record(ctx, acl=_canned_acl(ctx))
    return Response(200)


def require_bucket(ctx: S3Context) -> None:
    if ctx.node.meta.bmd().get(ctx.bck) is None:
        raise no_such_bucket(ctx.bucket)
