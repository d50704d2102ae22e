"""``strata estimate``: what turning compression on would save, measured with the real codec.

Read-only. The objects of ``ais://B[/PREFIX]`` (through the AIS API, as every verb) or
``s3://BUCKET[/PREFIX]`` (through boto3 at ``--endpoint-url``: Strata's ``/s3`` front, AWS, any S3) are
listed once, sorted into strata by extension, and a size-weighted sample of up to ``--sample`` objects
is read (the first 8 MiB of each, by range GET) and put through exactly what a compressing bucket does
to a write: ``strata.compress.choose_codec`` on the object's first bytes, then ``strata.compress.encode``
at the bucket's level and frame size -- also on a bucket where compression is off. How the sample is
drawn and projected is in ``strata.cli.sampling``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

from aistore.sdk.errors import APIRequestError

from strata.cli.buckets import fetch_props
from strata.cli.connection import Session
from strata.cli.errors import CommandError
from strata.cli.formatting import Table, human_size, write_json
from strata.cli.progress import TransferProgress, stderr_is_terminal
from strata.cli.sampling import Candidate, Measured, Sampler, Stratum
from strata.cli.uri import UsageError, parse_uri
from strata.compress import DEFAULT_LEVEL, choose_codec, encode, frame_size_for
from strata.compress.detect import SAMPLE_SIZE
from strata.config.units import parse_size_iec

MAX_READ_BYTES = 8 << 20  # read at most this much of each sampled object
READ_CONCURRENCY = 4
DEFAULT_MIN_SIZE = 4 << 10  # the bucket default (compression.min_size) when a source has no props
GIB = 1 << 30


@dataclass(frozen=True)
class Settings:
    """The compression a write would get: the bucket's settings, or the defaults where it has none."""

    codec: str = "auto"
    level: int = DEFAULT_LEVEL
    frame_size: int = 0  # 0: by object size, like the bucket's "auto"
    min_size: int = DEFAULT_MIN_SIZE
    enabled: bool | None = None  # None: the source has no such setting (an S3 bucket)


class Source(Protocol):
    """Where the objects come from: a listing, range reads of object starts, the bucket's settings."""

    label: str

    def settings(self) -> Settings: ...

    def objects(self) -> Iterator[tuple[str, int]]: ...

    def read_start(self, object_name: str, length: int) -> bytes | None:
        """The first ``length`` bytes; None when the object is gone since it was listed."""


class AisSource:
    """``ais://BUCKET[/PREFIX]`` through the official SDK (the CLI's client, its retries and errors)."""

    def __init__(self, session: Session, bucket: str, provider: str, prefix: str) -> None:
        self.session = session
        self.bucket = session.client.bucket(bucket, provider=provider)
        self.prefix = prefix
        self.uri = parse_uri(f"{provider}://{bucket}")
        self.label = f"{self.uri.bucket_uri}/{prefix}" if prefix else self.uri.bucket_uri

    def settings(self) -> Settings:
        section = fetch_props(self.session, self.uri).get("compression")
        if not isinstance(section, dict):  # not a Strata node (AIStore): what Strata's defaults would do
            return Settings()
        return Settings(
            codec=str(section.get("codec", "auto")),
            level=int(section.get("level", DEFAULT_LEVEL)),
            frame_size=_size(section.get("frame_size", 0)),
            min_size=_size(section.get("min_size", DEFAULT_MIN_SIZE)),
            enabled=bool(section.get("enabled", False)),
        )

    def objects(self) -> Iterator[tuple[str, int]]:
        with self.session.failing_as(f'bucket "{self.uri.bucket_uri}"'):
            for entry in self.bucket.list_objects_iter(prefix=self.prefix, props="name,size"):
                if not entry.name.endswith("/"):
                    yield entry.name, int(entry.size or 0)

    def read_start(self, object_name: str, length: int) -> bytes | None:
        reader = self.bucket.object(object_name).get_reader(byte_range=f"bytes=0-{length - 1}")
        with self.session.failing_as(f'object "{self.uri.bucket_uri}/{object_name}"'):
            try:
                return bytes(reader.read_all())
            except APIRequestError as error:
                if error.status_code == 404:  # deleted since the listing: not a failure of the estimate
                    return None
                raise


class S3Source:
    """``s3://BUCKET[/PREFIX]`` through boto3; without credentials configured, unsigned requests (what
    Strata's ``/s3`` front and moto accept when they have no users)."""

    def __init__(self, bucket: str, prefix: str, endpoint_url: str | None) -> None:
        try:
            import boto3  # type: ignore[import-untyped]
            from botocore import UNSIGNED  # type: ignore[import-untyped]
            from botocore.config import Config  # type: ignore[import-untyped]
        except ImportError:
            raise CommandError("estimating an s3:// bucket needs boto3: pip install boto3") from None
        session = boto3.session.Session()
        config = Config(connect_timeout=3, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"})
        if session.get_credentials() is None:
            config = config.merge(Config(signature_version=UNSIGNED))
        self.client: Any = session.client(
            "s3", endpoint_url=endpoint_url, config=config, region_name=session.region_name or "us-east-1"
        )
        self.bucket = bucket
        self.prefix = prefix
        self.label = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"

    def settings(self) -> Settings:
        return Settings()

    def objects(self) -> Iterator[tuple[str, int]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        with _s3_errors(self.label):
            for page in pages:
                for item in page.get("Contents", []):
                    yield str(item["Key"]), int(item["Size"])

    def read_start(self, object_name: str, length: int) -> bytes | None:
        from botocore.exceptions import ClientError  # type: ignore[import-untyped]

        try:
            answer = self.client.get_object(
                Bucket=self.bucket, Key=object_name, Range=f"bytes=0-{length - 1}"
            )
            return bytes(answer["Body"].read())
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise CommandError(f"s3://{self.bucket}/{object_name}: {error}") from error


@contextmanager
def _s3_errors(label: str) -> Iterator[None]:
    """botocore failures as one line naming the bucket (``Error: s3://b: ... NoSuchBucket ...``)."""
    from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise CommandError(f"{label}: {error}") from error


def _size(value: object) -> int:
    """A size as bucket props write it: a number of bytes, ``"4MiB"``, ``"5000B"`` or ``"auto"`` (0)."""
    if isinstance(value, int):
        return value
    text = str(value)
    return 0 if text in ("", "auto") else parse_size_iec(text)


def open_source(session: Session, text: str, endpoint_url: str | None) -> Source:
    """``ais://B[/PREFIX]`` (or a bare ``B``) or ``s3://BUCKET[/PREFIX]``."""
    if text.startswith("s3://"):
        bucket, _, prefix = text[len("s3://") :].partition("/")
        if not bucket:
            raise UsageError(f'missing bucket name in "{text}" (expected s3://BUCKET[/PREFIX])')
        return S3Source(bucket, prefix, endpoint_url)
    if "://" in text and not text.startswith("ais://"):
        raise UsageError(
            f'unsupported address "{text}" (expected ais://BUCKET[/PREFIX] or s3://BUCKET[/PREFIX])'
        )
    uri = parse_uri(text)
    return AisSource(session, uri.bucket, uri.provider, uri.object)


def measure(name: str, size: int, data: bytes, settings: Settings) -> Measured:
    """What a compressing bucket would store for these bytes: the codec choice, then the frames."""
    decision = choose_codec(data[:SAMPLE_SIZE], settings.codec)
    if decision.codec == "none":
        return Measured(name, size, len(data), len(data), True, decision.reason)
    frame_size = settings.frame_size or frame_size_for(size)  # frames sized by the whole object
    _stored, stats = encode(data, settings.level, frame_size)
    return Measured(name, size, len(data), stats.stored_size, False, decision.reason)


class _ListingMeter:
    """``listing ais://b: 12000 objects, 3.20GiB`` on stderr, redrawn at most 10 times a second."""

    def __init__(self, out: TextIO, label: str, enabled: bool) -> None:
        self.out, self.label, self.enabled = out, label, enabled
        self.objects = self.bytes = 0
        self._last = 0.0

    def add(self, size: int) -> None:
        self.objects += 1
        self.bytes += size
        now = time.monotonic()
        if self.enabled and now - self._last >= 0.1:
            self._last = now
            self._draw()

    def finish(self) -> None:
        if self.enabled:
            self._draw()
            self.out.write("\n")
            self.out.flush()

    def _draw(self) -> None:
        self.out.write(f"\rlisting {self.label}: {self.objects} objects, {human_size(self.bytes)}")
        self.out.flush()


def run(
    source: Source, settings: Settings, *, sample: int, seed: int, progress: bool, err: TextIO
) -> dict[str, Any]:
    """List, draw, read, compress; the report as a JSON-ready dict (without prices)."""
    sampler = Sampler(sample, seed, settings.min_size)
    meter = _ListingMeter(err, source.label, progress)
    for name, size in source.objects():
        sampler.add(name, size)
        meter.add(size)
    meter.finish()
    plan = sampler.plan()
    picks = [(stratum, candidate) for stratum, drawn in plan for candidate in drawn]
    meter_bytes = sum(min(candidate.size, MAX_READ_BYTES) for _stratum, candidate in picks)
    sampling = TransferProgress(
        err,
        total_bytes=meter_bytes,
        total_files=len(picks),
        label="sampling",
        enabled=progress and bool(picks),
    )

    def read_and_measure(pick: tuple[Stratum, Candidate]) -> tuple[Stratum, Measured | None]:
        stratum, candidate = pick
        data = source.read_start(candidate.name, min(candidate.size, MAX_READ_BYTES))
        result = None if data is None else measure(candidate.name, candidate.size, data, settings)
        sampling.add_bytes(min(candidate.size, MAX_READ_BYTES))
        sampling.file_done()
        return stratum, result

    with ThreadPoolExecutor(READ_CONCURRENCY) as pool:  # zstd and the reads release the GIL
        for stratum, result in pool.map(read_and_measure, picks):
            if result is None:
                stratum.unread += 1
            else:
                stratum.measured.append(result)
    if picks:
        sampling.finish()
    return build_report(source.label, settings, [stratum for stratum, _drawn in plan], sample, seed)


def build_report(
    label: str, settings: Settings, strata: list[Stratum], sample: int, seed: int
) -> dict[str, Any]:
    measured = [m for stratum in strata for m in stratum.measured]
    overall = sum(m.fraction for m in measured) / len(measured) if measured else 1.0
    rows: list[dict[str, Any]] = []
    for stratum in strata:
        projected = stratum.projected(overall)
        rows.append(
            {
                "stratum": stratum.name,
                "objects": stratum.objects,
                "bytes": stratum.bytes,
                "sampled": len(stratum.measured),
                "sampled_bytes_read": sum(m.read for m in stratum.measured),
                "ratio": _ratio(stratum.bytes, projected),
                "projected_bytes": projected,
                "passthrough": stratum.passthrough,
                "below_min_size": stratum.small_objects,
                "unread": stratum.unread,
                "measured": stratum.fraction() is not None or stratum.eligible_bytes == 0,
                "samples": [
                    {
                        "name": m.name,
                        "size": m.size,
                        "read": m.read,
                        "stored": m.stored,
                        "codec": "none" if m.passthrough else "zstd",
                        "reason": m.reason,
                    }
                    for m in stratum.measured
                ],
            }
        )
    total_bytes = sum(row["bytes"] for row in rows)
    total_projected = sum(row["projected_bytes"] for row in rows)
    return {
        "source": label,
        "settings": {
            "codec": settings.codec,
            "level": settings.level,
            "frame_size": settings.frame_size or "auto",
            "min_size": settings.min_size,
            "compression_enabled": settings.enabled,
        },
        "sample_limit": sample,
        "seed": seed,
        "max_read_bytes": MAX_READ_BYTES,
        "strata": rows,
        "total": {
            "objects": sum(row["objects"] for row in rows),
            "bytes": total_bytes,
            "sampled": sum(row["sampled"] for row in rows),
            "ratio": _ratio(total_bytes, total_projected),
            "projected_bytes": total_projected,
            "saved_bytes": max(0, total_bytes - total_projected),
            "passthrough": sum(row["passthrough"] for row in rows),
        },
        "notes": _notes(strata, rows, settings),
    }


def _ratio(original: int, stored: int) -> float:
    return round(original / stored, 4) if stored else 1.0


def _notes(strata: list[Stratum], rows: list[dict[str, Any]], settings: Settings) -> list[str]:
    notes = [
        "storage bytes only: requests and transfer are not projected",
        f"each sampled object's first {human_size(MAX_READ_BYTES)} were read and compressed; "
        "a larger object is assumed to compress like its start",
    ]
    if settings.enabled is False:
        notes.append("compression is off on this bucket: the projection is for turning it on")
    if settings.enabled is None:
        notes.append("the source has no compression settings: Strata's defaults were used")
    unmeasured = [row["stratum"] for row in rows if not row["measured"]]
    if unmeasured:
        notes.append("no object read in " + ", ".join(unmeasured) + ": projected at the overall ratio")
    gone = sum(stratum.unread for stratum in strata)
    if gone:
        notes.append(f"{gone} sampled object(s) disappeared after the listing and were skipped")
    return notes


def estimate(
    session: Session,
    target: str,
    *,
    sample: int,
    seed: int,
    endpoint_url: str | None,
    output: str,
    price: float,
    level: int | None,
    codec: str | None,
    progress: bool | None,
) -> int:
    """``strata estimate ais://B[/PREFIX] | s3://BUCKET[/PREFIX]``; exit 0 on completion."""
    source = open_source(session, target, endpoint_url)
    settings = source.settings()
    if level is not None or codec is not None:
        settings = Settings(
            codec=codec or settings.codec,
            level=level or settings.level,
            frame_size=settings.frame_size,
            min_size=settings.min_size,
            enabled=settings.enabled,
        )
    show_progress = progress if progress is not None else stderr_is_terminal(session.err)
    report = run(source, settings, sample=sample, seed=seed, progress=show_progress, err=session.err)
    total = report["total"]
    report["price_per_gb_month"] = price
    report["monthly_cost_now_usd"] = round(total["bytes"] / GIB * price, 6)
    report["monthly_cost_projected_usd"] = round(total["projected_bytes"] / GIB * price, 6)
    report["monthly_savings_usd"] = round(total["saved_bytes"] / GIB * price, 6)
    if output == "json":
        write_json(session.out, report)
    else:
        write_table(session.out, report)
    return 0


def write_table(out: TextIO, report: dict[str, Any]) -> None:
    settings = report["settings"]
    frames = (
        settings["frame_size"] if settings["frame_size"] == "auto" else human_size(settings["frame_size"])
    )
    out.write(f"Strata compression estimate: {report['source']}\n")
    out.write(
        f"codec {settings['codec']}, zstd level {settings['level']}, frames {frames}, "
        f"min size {human_size(settings['min_size'])}; sample {report['total']['sampled']} "
        f"of up to {report['sample_limit']} objects, seed {report['seed']}\n\n"
    )
    if not report["strata"]:
        out.write("no objects to estimate\n")
        return
    table = Table(["stratum", "objects", "bytes", "sampled", "ratio", "projected", "passthrough"])
    for row in report["strata"]:
        table.add(
            row["stratum"],
            str(row["objects"]),
            human_size(row["bytes"]),
            str(row["sampled"]),
            f"{row['ratio']:.2f}x",
            human_size(row["projected_bytes"]),
            str(row["passthrough"]),
        )
    table.write(out)
    total = report["total"]
    percent = 100 * total["saved_bytes"] / total["bytes"] if total["bytes"] else 0.0
    out.write(
        f"\nprojected total: {total['objects']} objects, {human_size(total['bytes'])} -> "
        f"{human_size(total['projected_bytes'])} ({total['ratio']:.2f}x, {percent:.1f}% saved, "
        f"{total['saved_bytes']} bytes)\n"
    )
    out.write(
        f"storage cost: {dollars(report['monthly_cost_now_usd'])}/month now -> "
        f"{dollars(report['monthly_cost_projected_usd'])}/month projected "
        f"(at ${report['price_per_gb_month']}/GiB-month)\n"
    )
    out.write("Notes:\n")
    for note in report["notes"]:
        out.write(f"  - {note}\n")


def dollars(amount: float) -> str:
    """``$12.35``; amounts under a dollar keep four decimals so small test buckets do not read $0.00."""
    return f"${amount:,.2f}" if amount >= 1 else f"${amount:.4f}"
