"""S3 request documents that are not well-formed XML are the client's ``MalformedXML`` (400), never a 5xx.

Four operations take an XML body: DeleteObjects, PutBucketVersioning, CreateBucket (an optional
CreateBucketConfiguration) and CompleteMultipartUpload. They share one parse helper; a body declaring
an encoding the codecs cannot use (``encoding="bogus"``) used to escape it as a 500. Raw ``requests``
calls, as the shared server runs without S3 users (anonymous requests are allowed).
"""

from __future__ import annotations

import random
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator

import pytest
import requests

from .helpers import raw
from .server import StrataServer

pytestmark = pytest.mark.timeout(180)

Send = Callable[[bytes], requests.Response]

DECLARATIONS = [
    b'<?xml version="1.0" encoding="bogus"?>',  # unknown codec name: LookupError
    b'<?xml version="1.0" encoding="hex"?>',  # a bytes-to-bytes codec, not a text encoding: LookupError
    b'<?xml version="1.0" encoding="shift_jis"?>',  # multi-byte, which expat cannot use: ValueError
    b'<?xml version="1.0" encoding="idna"?>',  # a codec that fails on expat's error handler: UnicodeError
    b'<?xml version="1.0" encoding="utf-16"?>',  # declared UTF-16, sent as UTF-8
]

# The body each operation would accept, without its XML declaration.
VALID = {
    "DeleteObjects": b"<Delete><Object><Key>k</Key></Object></Delete>",
    "PutBucketVersioning": b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>",
    "CreateBucket": b"<CreateBucketConfiguration><LocationConstraint>us-east-1</LocationConstraint>"
    b"</CreateBucketConfiguration>",
    "CompleteMultipartUpload": b'<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"e"</ETag>'
    b"</Part></CompleteMultipartUpload>",
}
OPERATIONS = sorted(VALID)


def _bucket_name() -> str:
    return f"xml-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def s3(server: StrataServer) -> str:
    return f"{server.endpoint}/s3"


@pytest.fixture(scope="module")
def bucket(s3: str) -> Iterator[str]:
    name = _bucket_name()
    assert raw("PUT", f"{s3}/{name}").status_code == 200
    yield name
    raw("DELETE", f"{s3}/{name}")


@pytest.fixture(scope="module")
def created_by_fuzz(s3: str) -> Iterator[list[str]]:
    """Names CreateBucket was called with: none may exist afterwards (a refused body creates nothing)."""
    names: list[str] = []
    yield names
    listing = raw("GET", s3).text
    assert not [n for n in names if f"<Name>{n}</Name>" in listing]


def _sender(operation: str, s3: str, bucket: str, created: list[str]) -> Send:
    """A function sending one body to ``operation`` (a fresh upload or bucket name for each call)."""

    def send(body: bytes) -> requests.Response:
        if operation == "DeleteObjects":
            return raw("POST", f"{s3}/{bucket}?delete", data=body)
        if operation == "PutBucketVersioning":
            return raw("PUT", f"{s3}/{bucket}?versioning", data=body)
        if operation == "CreateBucket":
            name = _bucket_name()
            created.append(name)
            return raw("PUT", f"{s3}/{name}", data=body)
        started = raw("POST", f"{s3}/{bucket}/mp-key?uploads")
        assert started.status_code == 200, started.text
        match = re.search(r"<UploadId>([0-9a-f]+)</UploadId>", started.text)
        assert match is not None
        return raw("POST", f"{s3}/{bucket}/mp-key?uploadId={match.group(1)}", data=body)

    return send


def _assert_malformed_xml(response: requests.Response, body: bytes) -> None:
    assert response.status_code == 400, (body[:120], response.status_code, response.text[:300])
    assert response.headers["Content-Type"] == "application/xml"
    error = ET.fromstring(response.content)
    assert error.tag == "Error" and error.findtext("Code") == "MalformedXML", response.text


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("declaration", DECLARATIONS, ids=lambda d: d.split(b'"')[3].decode())
def test_undecodable_encoding_is_malformed_xml(
    s3: str, bucket: str, created_by_fuzz: list[str], operation: str, declaration: bytes
) -> None:
    send = _sender(operation, s3, bucket, created_by_fuzz)
    _assert_malformed_xml(send(declaration + VALID[operation]), declaration)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_the_same_documents_in_utf8_are_accepted(s3: str, bucket: str, operation: str) -> None:
    """The control: with a usable declaration the bodies above pass the parser (CompleteMultipartUpload
    then fails on its unknown part, as S3 says, not on the XML)."""
    created: list[str] = []
    response = _sender(operation, s3, bucket, created)(
        b'<?xml version="1.0" encoding="UTF-8"?>' + VALID[operation]
    )
    if operation == "CompleteMultipartUpload":
        assert response.status_code == 400 and "<Code>InvalidPart</Code>" in response.text, response.text
    else:
        assert response.status_code == 200, response.text
    for name in created:
        raw("DELETE", f"{s3}/{name}")
    if operation == "PutBucketVersioning":
        suspended = b"<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>"
        assert raw("PUT", f"{s3}/{bucket}?versioning", data=suspended).status_code == 200


def _malformed_bodies() -> list[bytes]:
    """Bodies that are not acceptable documents for any of the four operations."""
    delete = VALID["DeleteObjects"]
    utf16_dtd = (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Delete><Object><Key>&b;</Key></Object></Delete>'
    ).encode("utf-16")
    return [
        b"<",
        b"<Delete>",
        b"</Delete>",
        b"<Delete><Object><Key>k</Key></Object>",
        b"<Delete></Object></Delete>",
        b"<?xml version='1.0'?>",
        b'<?xml version="1.0" encoding="UTF-8"?>\n',
        b'<?xml version="2.0"?><Delete/>',
        b"<Delete><Object><Key>k</Key></Object></Delete><Delete/>",  # two roots
        b"<Delete><Key>\x00</Key></Delete>",
        b"<Delete><Key>\xff\xfe</Key></Delete>",  # not UTF-8
        b"\xef\xbb\xbf\xef\xbb\xbf<Delete/>",  # a doubled BOM
        "<Delete/>".encode("utf-16-le"),  # UTF-16 without a BOM
        b"<Delete><![CDATA[unclosed</Delete>",
        b"<Delete><!-- unclosed </Delete>",
        b"<Delete>&undefined;</Delete>",
        b"<Delete>&#0;</Delete>",
        b"<Delete>&#xFFFFFFFF;</Delete>",
        b'<Delete a="1" a="2"/>',
        b"<ns:Delete/>",  # an unbound prefix
        b"<!DOCTYPE Delete><Delete/>",
        b'<!DOCTYPE Delete SYSTEM "file:///etc/passwd"><Delete/>',
        utf16_dtd,  # a DTD no byte check for "<!DOCTYPE" would see
        b'{"Delete": {"Objects": [{"Key": "k"}]}}',
        b"Delete=k",
        b"\x00" * 64,
        b"<Unknown/>",  # well-formed, but no operation's root
        b"<Delete/>",  # well-formed, and no key to delete
        b'<?xml version="1.0" encoding="bogus"?>' + delete,
        b'<?xml version="1.0" encoding="utf-32"?>' + delete,
        b'<?xml version="1.0" encoding="rot13"?>' + delete,
        b'<?xml version="1.0" encoding="undefined"?>' + delete,
        b'<?xml version="1.0" encoding="' + b"x" * 5000 + b'"?>' + delete,
        b"<CompleteMultipartUpload><Part><PartNumber>\xc2\xb2</PartNumber><ETag>e</ETag></Part>"
        b"</CompleteMultipartUpload>",  # "²" passes str.isdigit, not int()
        b"<a>" * 20000 + b"</a>" * 19999,  # deep and unclosed
    ]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_malformed_bodies_are_400_malformed_xml(
    s3: str, bucket: str, created_by_fuzz: list[str], operation: str
) -> None:
    send = _sender(operation, s3, bucket, created_by_fuzz)
    for body in _malformed_bodies():
        _assert_malformed_xml(send(body), body)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_mutated_documents_never_answer_5xx(
    s3: str, bucket: str, created_by_fuzz: list[str], operation: str
) -> None:
    """Seeded byte flips, cuts and splices of a valid document: whatever they become, no 5xx."""
    rng = random.Random(f"s3-xml-{operation}")
    valid = b'<?xml version="1.0" encoding="UTF-8"?>' + VALID[operation]
    send = _sender(operation, s3, bucket, created_by_fuzz)
    for _ in range(30):
        body = bytearray(valid)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(body))
            choice = rng.random()
            if choice < 0.4:
                body[at] = rng.randrange(256)
            elif choice < 0.7:
                del body[at : at + rng.randint(1, 8)]
            else:
                body[at:at] = rng.choice([b"<", b">", b"&", b"\x00", b"\xc3", b'"', b"]]>", b"<!--"])
        response = send(bytes(body))
        assert response.status_code < 500, (bytes(body), response.status_code, response.text[:300])
        if response.status_code == 200 and operation == "CreateBucket":
            raw("DELETE", f"{s3}/{created_by_fuzz.pop()}")  # still well-formed: created, as it should be


def test_upload_part_number_must_be_ascii_digits(s3: str, bucket: str) -> None:
    """``?partNumber=²`` passed ``str.isdigit`` and then failed ``int()``: a 500 before."""
    started = raw("POST", f"{s3}/{bucket}/part-key?uploads")
    upload_id = re.search(r"<UploadId>([0-9a-f]+)</UploadId>", started.text)
    assert upload_id is not None
    for query in (
        f"partNumber=%C2%B2&uploadId={upload_id.group(1)}",
        f"uploadId={upload_id.group(1)}&max-parts=%C2%B2",
    ):
        method = "PUT" if query.startswith("partNumber") else "GET"
        response = raw(method, f"{s3}/{bucket}/part-key?{query}", data=b"x" if method == "PUT" else None)
        assert response.status_code == 400, (query, response.status_code, response.text)
        assert "<Code>InvalidArgument</Code>" in response.text
    assert raw("DELETE", f"{s3}/{bucket}/part-key?uploadId={upload_id.group(1)}").status_code == 204
