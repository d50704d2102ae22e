"""S3's XML: a tiny writer for responses (errors included) and a guarded parser for request bodies.

Responses are small and flat, so they are built as strings with escaping rather than through a DOM:
cheaper per request, and the element order S3 documents is obvious in the code. Request bodies
(CompleteMultipartUpload, Delete, VersioningConfiguration...) are parsed with ElementTree after a
size check; the S3 namespace is optional on input, as it is for S3.
"""

from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from strata.s3.errors import S3Error, malformed_xml
from strata.server.http import Request, Response

XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_TYPE = ("Content-Type", "application/xml")
MAX_XML_BODY = 2 << 20  # a Delete of 1,000 keys of 1,024 bytes fits
_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;"})


def escape(text: str) -> str:
    return text.translate(_ESCAPES)


def iso_time(ns: int) -> str:
    """S3's timestamp in XML bodies: ``2024-05-01T12:00:00.000Z``."""
    seconds, remainder = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{remainder // 1_000_000:03d}Z"


class XmlWriter:
    """Appends elements in order; ``leaf`` skips ``None`` so optional fields read as one line each."""

    __slots__ = ("parts",)

    def __init__(self, root: str, *, namespace: bool = True) -> None:
        self.parts = [_DECL, f'<{root} xmlns="{XMLNS}">' if namespace else f"<{root}>"]

    def open(self, tag: str) -> XmlWriter:
        self.parts.append(f"<{tag}>")
        return self

    def close(self, tag: str) -> XmlWriter:
        self.parts.append(f"</{tag}>")
        return self

    def leaf(self, tag: str, value: str | int | bool | None) -> XmlWriter:
        if value is None:
            return self
        text = ("true" if value else "false") if isinstance(value, bool) else escape(str(value))
        self.parts.append(f"<{tag}>{text}</{tag}>")
        return self

    def leaves(self, items: Iterable[tuple[str, str | int | bool | None]]) -> XmlWriter:
        for tag, value in items:
            self.leaf(tag, value)
        return self

    def document(self, root: str) -> bytes:
        self.parts.append(f"</{root}>")
        return "".join(self.parts).encode()


def xml_response(body: bytes, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, [XML_TYPE, *(headers or [])], body)


def request_id() -> str:
    return uuid.uuid4().hex[:16].upper()


def error_response(request: Request, error: S3Error, resource: str) -> Response:
    """S3's ``<Error>`` document; HEAD gets the status and headers only (its replies have no body)."""
    rid = request_id()
    headers = [("x-amz-request-id", rid), *error.headers]
    if request.method == "HEAD":
        return Response(error.status, headers, content_length=0)
    writer = XmlWriter("Error", namespace=False)
    writer.leaf("Code", error.code).leaf("Message", error.message)
    writer.leaves(error.extra.items())
    writer.leaf("Resource", resource).leaf("RequestId", rid)
    return xml_response(writer.document("Error"), error.status, headers)


class _DoctypeRefused(Exception):
    """Raised from the parser's DOCTYPE callback to stop the parse before any entity is expanded."""


class _TreeWithoutDoctype(ET.TreeBuilder):
    """ElementTree's builder, refusing any DTD: S3 documents never carry one, and entity expansion
    is an attack. Checked on the parsed declaration rather than on the raw bytes, so a document in
    another encoding (UTF-16 has a NUL between the letters of ``<!DOCTYPE``) cannot slip one past."""

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise _DoctypeRefused


def parse(body: bytes) -> ET.Element:
    """Parse a request document; namespaces are dropped from tags so handlers match plain names.

    Anything that is not a well-formed document is the client's ``MalformedXML`` (400), never a 500.
    Besides expat's own ``ParseError``, the declared encoding can fail in the codec machinery: an
    unknown name (``encoding="bogus"``, or a bytes codec like ``hex``) raises ``LookupError``, a
    multi-byte codec expat cannot use (``shift_jis``) ``ValueError``, a codec that cannot decode
    the bytes ``UnicodeError`` (a ``ValueError``). Those are all the exceptions the standard
    library's codecs raise here.
    """
    if len(body) > MAX_XML_BODY:
        raise S3Error("MaxMessageLengthExceeded", "Your request was too big.")
    parser = ET.XMLParser(target=_TreeWithoutDoctype())
    try:
        parser.feed(body)
        root = parser.close()
    except (ET.ParseError, LookupError, ValueError, _DoctypeRefused):
        raise malformed_xml() from None
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith("{"):
            element.tag = element.tag.split("}", 1)[1]
    return root


def child_text(element: ET.Element, tag: str) -> str | None:
    child = element.find(tag)
    return None if child is None else (child.text or "")
