"""The benchmark's input files, generated once from fixed seeds and kept in a cache directory.

- ``access``: an nginx access log (``combined`` format plus request time), the text that compression at
  rest is sold on: a skewed pool of client IPs, paths from a web shop's routes with ids and queries,
  weighted status codes and methods, log-normal response sizes, real browser/bot user agents,
  timestamps that only move forward.
- ``columnar``: a Parquet file with mixed columns (int64 ids, increasing timestamps, prices, small
  ints, dictionary-encoded strings, free strings, high-entropy floats) and uncompressed pages, written
  by pyarrow when it is installed; otherwise the same columns laid out the way Parquet lays them out
  (``PAR1`` magic, row groups of column chunks with a page header each, a dictionary page per
  dictionary column, plain-encoded values, a footer), which compresses the way such files do.
- ``random``: uniformly random bytes, the passthrough case.

Every file is a pure function of its kind, size and ``VERSION``: the cache is reused when present,
and a file is written under a temporary name and renamed, so an interrupted run never leaves a
half-written file behind a good name. Its SHA-256 sits next to it for the read-back checks.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.util
import json
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

VERSION = 1
KINDS = ("access", "columnar", "random")
DEFAULT_CACHE = Path("/tmp/strata-bench-data")
_CHUNK = 16 << 20
_ROWS_PER_GROUP = 131_072


@dataclass(frozen=True)
class DataFile:
    kind: str
    path: Path
    size: int
    sha256: str
    description: str


def has_pyarrow() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


def file_name(kind: str, size: int) -> str:
    if kind == "columnar":
        form = "parquet" if has_pyarrow() else "columnar"
        return f"{kind}-v{VERSION}-{size}.{form}"
    return f"{kind}-v{VERSION}-{size}.{'log' if kind == 'access' else 'bin'}"


def ensure(kind: str, size: int, cache: Path = DEFAULT_CACHE, say: Callable[[str], None] = print) -> DataFile:
    """The cached file of ``kind`` and (about, for ``columnar``) ``size`` bytes, generated if missing."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / file_name(kind, size)
    digest_path = path.with_name(path.name + ".sha256")
    if not (path.is_file() and digest_path.is_file()):
        temporary = path.with_name(path.name + f".tmp-{os.getpid()}")
        say(f"generating {path} ...")
        try:
            if kind == "access":
                _write_exact(temporary, size, access_log_chunks(seed=10))
            elif kind == "random":
                _write_exact(temporary, size, random_chunks(seed=11))
            elif kind == "columnar" and has_pyarrow():
                write_parquet(temporary, size, seed=12)
            elif kind == "columnar":
                write_columnar(temporary, size, seed=12)
            else:
                raise ValueError(f"unknown data kind {kind!r}")
            digest_path.write_text(sha256_of(temporary) + "\n")
            temporary.rename(path)
        finally:
            temporary.unlink(missing_ok=True)
    descriptions = {
        "access": "nginx access log (combined + request time), seed 10",
        "random": "random bytes, seed 11",
        "columnar": (
            "Parquet (pyarrow, uncompressed pages, dictionary columns), seed 12"
            if path.suffix == ".parquet"
            else "Parquet-like columnar layout (pyarrow not installed: plain + dictionary pages), seed 12"
        ),
    }
    return DataFile(kind, path, path.stat().st_size, digest_path.read_text().strip(), descriptions[kind])


def sha256_of(path: Path, repeat: int = 1) -> str:
    """SHA-256 of the file's bytes, ``repeat`` times over (the concatenated object of the range test)."""
    digest = hashlib.sha256()
    for _ in range(repeat):
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _write_exact(path: Path, size: int, chunks: Iterator[bytes]) -> None:
    with path.open("wb") as out:
        left = size
        for chunk in chunks:
            piece = chunk[:left]
            out.write(piece)
            left -= len(piece)
            if not left:
                break


def random_chunks(seed: int) -> Iterator[bytes]:
    rng = np.random.Generator(np.random.PCG64(seed))
    while True:
        yield rng.bytes(_CHUNK)


# ---------------------------------------------------------------------------------------------
# the access log

_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36 Edg/124.0.2478.67",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.6312.118 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 "
    "Mobile/15E148 Safari/604.1",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Prometheus/2.51.0",
    "kube-probe/1.29",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:124.0) Gecko/20100101 Firefox/124.0",
)
_WORDS = [
    "shoes",
    "running",
    "trail",
    "red",
    "blue",
    "black",
    "wool",
    "jacket",
    "rain",
    "winter",
    "summer",
    "kids",
    "women",
    "men",
    "sale",
    "socks",
    "backpack",
    "hiking",
    "tent",
    "stove",
    "lamp",
    "chair",
    "desk",
    "cable",
    "charger",
    "usb",
    "laptop",
    "sleeve",
    "bottle",
    "steel",
    "cup",
    "mug",
    "coffee",
    "grinder",
    "kettle",
    "scale",
    "yoga",
    "mat",
    "band",
    "gloves",
    "helmet",
    "bike",
    "light",
    "lock",
    "pump",
    "tire",
    "tube",
    "saddle",
    "bell",
    "basket",
    "rack",
    "fender",
    "chain",
    "oil",
    "cleaner",
    "brush",
    "towel",
    "soap",
    "shampoo",
    "razor",
    "blade",
    "cream",
    "lotion",
]
_SLUGS = tuple(
    f"{a}-{b}-{c}" for a, b, c in zip(_WORDS, _WORDS[7:] + _WORDS[:7], _WORDS[3:] + _WORDS[:3], strict=True)
)
_STATUS = (200, 304, 404, 301, 302, 206, 500, 502, 403, 201, 204, 499)
_STATUS_WEIGHTS = (0.78, 0.07, 0.045, 0.02, 0.02, 0.01, 0.004, 0.003, 0.008, 0.02, 0.01, 0.01)
_METHODS = ("GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS")
_METHOD_WEIGHTS = (0.86, 0.09, 0.02, 0.015, 0.01, 0.005)
_REFERERS = (
    "-",
    "https://www.example-shop.com/",
    "https://www.google.com/",
    "https://www.example-shop.com/cart",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
    "https://www.example-shop.com/search",
    "https://t.co/",
    "android-app://com.google.android.gm/",
)
_REFERER_WEIGHTS = (0.38, 0.22, 0.14, 0.08, 0.04, 0.03, 0.07, 0.02, 0.02)


def _weights(values: tuple[float, ...]) -> Any:
    array = np.asarray(values, dtype=np.float64)
    return array / array.sum()


def _path(kind: int, a: int, b: int, word1: str, word2: str, slug: str) -> str:
    """One request path of a web shop, from a route ``kind`` and random numbers/words."""
    if kind < 20:
        return f"/api/v1/products/{a}"
    if kind < 30:
        return f"/api/v1/users/{b}/orders?page={a % 9 + 1}&limit=20"
    if kind < 42:
        return f"/images/products/{a}/{a % 7}_{'large' if b % 3 else 'thumb'}.jpg"
    if kind < 52:
        return f"/static/js/app.{b % 4096:03x}{b % 65521:04x}.js"
    if kind < 58:
        return f"/static/css/main.{b % 4096:03x}{a % 65521:04x}.css"
    if kind < 66:
        return f"/search?q={word1}+{word2}&sort={'price' if a % 2 else 'relevance'}"
    if kind < 72:
        return f"/blog/{2019 + a % 6}/{slug}"
    if kind < 78:
        return f"/product/{slug}-{a}"
    if kind < 83:
        return "/"
    if kind < 87:
        return "/cart"
    if kind < 90:
        return "/checkout"
    if kind < 93:
        return "/favicon.ico"
    if kind < 95:
        return "/robots.txt"
    if kind < 97:
        return f"/api/v1/health?probe={a % 3}"
    if kind < 99:
        return f"/account/login?next=%2Forders%2F{b}"
    return "/wp-login.php"


def access_log_chunks(seed: int, lines_per_chunk: int = 50_000) -> Iterator[bytes]:
    """Endless nginx log lines, a chunk of ``lines_per_chunk`` at a time (vectorised draws, one format
    per line; the timestamp text is cached per second, as the clock moves ~20 ms per line)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    pool = rng.integers(0, 2**32, size=30_000, dtype=np.uint64)
    ips = [f"{(v >> 24) & 255 or 1}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}" for v in pool.tolist()]
    status_p, method_p, referer_p = (
        _weights(_STATUS_WEIGHTS),
        _weights(_METHOD_WEIGHTS),
        _weights(_REFERER_WEIGHTS),
    )
    agent_p = _weights(tuple(1 / (i + 1) ** 1.2 for i in range(len(_USER_AGENTS))))
    clock = datetime.datetime(2025, 3, 1, tzinfo=datetime.UTC).timestamp()
    stamp_second, stamp_text = -1, ""
    while True:
        n = lines_per_chunk
        who = np.minimum(rng.zipf(1.15, n) - 1, len(ips) - 1)
        gaps = rng.exponential(0.02, n).cumsum()
        kinds = rng.integers(0, 100, n)
        a_values = rng.integers(1, 250_000, n)
        b_values = rng.integers(1, 2_000_000, n)
        words = rng.integers(0, len(_WORDS), (n, 2))
        slugs = rng.integers(0, len(_SLUGS), n)
        statuses = rng.choice(len(_STATUS), n, p=status_p)
        methods = rng.choice(len(_METHODS), n, p=method_p)
        referers = rng.choice(len(_REFERERS), n, p=referer_p)
        agents = rng.choice(len(_USER_AGENTS), n, p=agent_p)
        sizes = rng.lognormal(8.0, 1.6, n).astype(np.int64)
        times = rng.gamma(1.5, 0.03, n)
        lines = []
        for i in range(n):
            second = int(clock + gaps[i])
            if second != stamp_second:
                moment = datetime.datetime.fromtimestamp(second, datetime.UTC)
                stamp_second, stamp_text = second, moment.strftime("%d/%b/%Y:%H:%M:%S +0000")
            status = _STATUS[statuses[i]]
            path = _path(
                int(kinds[i]),
                int(a_values[i]),
                int(b_values[i]),
                _WORDS[words[i, 0]],
                _WORDS[words[i, 1]],
                _SLUGS[slugs[i]],
            )
            sent = 0 if status in (304, 204, 499) else int(sizes[i])
            seconds = float(times[i]) * (12 if status >= 500 else 1)
            upstream = f"{seconds * 0.92:.3f}" if path.startswith("/api") else "-"
            lines.append(
                f'{ips[who[i]]} - - [{stamp_text}] "{_METHODS[methods[i]]} {path} HTTP/1.1" {status} {sent} '
                f'"{_REFERERS[referers[i]]}" "{_USER_AGENTS[agents[i]]}" rt={seconds:.3f} uct="0.000" '
                f'urt="{upstream}"\n'
            )
        clock += float(gaps[-1])
        yield "".join(lines).encode()


# ---------------------------------------------------------------------------------------------
# the columnar file

_CATEGORIES = tuple(f"{w}/{v}" for w, v in zip(_WORDS[:40], _WORDS[20:60], strict=True))
_COUNTRIES = (
    "US",
    "DE",
    "FR",
    "GB",
    "IN",
    "BR",
    "JP",
    "CA",
    "AU",
    "NL",
    "ES",
    "IT",
    "PL",
    "SE",
    "MX",
    "KR",
    "CH",
    "BE",
    "AT",
    "NO",
    "DK",
    "FI",
    "IE",
    "PT",
    "CZ",
    "RO",
    "HU",
    "GR",
    "TR",
    "ZA",
)


def _row_group(rng: np.random.Generator, first_id: int, clock_us: int) -> dict[str, Any]:
    """The columns of one row group as numpy arrays / lists (shared by both writers)."""
    n = _ROWS_PER_GROUP
    country_p = _weights(tuple(1 / (i + 1) for i in range(len(_COUNTRIES))))
    return {
        "order_id": np.arange(first_id, first_id + n, dtype=np.int64),
        "customer_id": (rng.zipf(1.3, n) % 5_000_000).astype(np.int32),
        "ts_us": clock_us + rng.exponential(2_000.0, n).cumsum().astype(np.int64),
        "price": np.round(rng.lognormal(3.0, 1.0, n), 2),
        "quantity": np.minimum(rng.geometric(0.45, n), 50).astype(np.int16),
        "discount": rng.choice(
            np.asarray([0.0, 0.05, 0.1, 0.15, 0.2], dtype=np.float32), n, p=[0.6, 0.15, 0.12, 0.08, 0.05]
        ),
        "category": rng.integers(0, len(_CATEGORIES), n).astype(np.int32),
        "country": rng.choice(len(_COUNTRIES), n, p=country_p).astype(np.int32),
        "sku": [f"SKU-{v:08d}" for v in rng.integers(0, 40_000_000, n).tolist()],
        "score": rng.normal(0.0, 1.0, n),
        "returned": rng.random(n) < 0.04,
    }


def _plain_strings(values: list[str]) -> bytes:
    """Parquet's PLAIN encoding of byte arrays: a 4-byte little-endian length before each value."""
    encoded = [v.encode() for v in values]
    return b"".join(struct.pack("<I", len(e)) + e for e in encoded)


def _page(column: str, encoding: str, count: int, payload: bytes) -> bytes:
    header = json.dumps({"column": column, "encoding": encoding, "values": count}).encode()
    return struct.pack("<II", len(header), len(payload)) + header + payload


def write_columnar(path: Path, size: int, seed: int) -> None:
    """Row groups of Parquet-like column chunks until the file reaches ``size`` bytes."""
    rng = np.random.Generator(np.random.PCG64(seed))
    first_id, clock_us, groups = 10_000_000, 1_740_787_200_000_000, 0
    with path.open("wb") as out:
        out.write(b"PAR1")
        while out.tell() < size - 64:
            g = _row_group(rng, first_id, clock_us)
            n = len(g["order_id"])
            out.write(_page("order_id", "PLAIN", n, g["order_id"].tobytes()))
            out.write(_page("customer_id", "PLAIN", n, g["customer_id"].tobytes()))
            out.write(_page("ts_us", "PLAIN", n, g["ts_us"].tobytes()))
            out.write(_page("price", "PLAIN", n, g["price"].tobytes()))
            out.write(_page("quantity", "PLAIN", n, g["quantity"].tobytes()))
            out.write(_page("discount", "PLAIN", n, g["discount"].tobytes()))
            out.write(
                _page("category", "DICTIONARY_PAGE", len(_CATEGORIES), _plain_strings(list(_CATEGORIES)))
            )
            out.write(_page("category", "RLE_DICTIONARY", n, g["category"].astype(np.uint8).tobytes()))
            out.write(
                _page("country", "PLAIN", n, _plain_strings([_COUNTRIES[i] for i in g["country"].tolist()]))
            )
            out.write(_page("sku", "PLAIN", n, _plain_strings(g["sku"])))
            out.write(_page("score", "PLAIN", n, g["score"].tobytes()))
            out.write(_page("returned", "BIT_PACKED", n, np.packbits(g["returned"]).tobytes()))
            first_id, clock_us, groups = first_id + n, int(g["ts_us"][-1]), groups + 1
        footer = json.dumps({"row_groups": groups, "rows": groups * _ROWS_PER_GROUP}).encode()
        out.write(footer + struct.pack("<I", len(footer)) + b"PAR1")


def write_parquet(path: Path, size: int, seed: int) -> None:  # pragma: no cover - needs pyarrow
    """Real Parquet through pyarrow: uncompressed pages, dictionary encoding on the string columns."""
    import pyarrow as pa  # type: ignore[import-not-found,unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-not-found,unused-ignore]

    rng = np.random.Generator(np.random.PCG64(seed))
    first_id, clock_us = 10_000_000, 1_740_787_200_000_000
    with path.open("wb") as raw:
        writer: Any = None
        while raw.tell() < size:
            g = _row_group(rng, first_id, clock_us)
            table = pa.table(
                {
                    "order_id": g["order_id"],
                    "customer_id": g["customer_id"],
                    "ts": pa.array(g["ts_us"], pa.timestamp("us", tz="UTC")),
                    "price": g["price"],
                    "quantity": g["quantity"],
                    "discount": g["discount"],
                    "category": pa.DictionaryArray.from_arrays(
                        pa.array(g["category"], pa.int32()), pa.array(_CATEGORIES)
                    ),
                    "country": pa.array([_COUNTRIES[i] for i in g["country"].tolist()]),
                    "sku": pa.array(g["sku"]),
                    "score": g["score"],
                    "returned": g["returned"],
                }
            )
            if writer is None:
                writer = pq.ParquetWriter(
                    raw, table.schema, compression="none", use_dictionary=["category", "country"]
                )
            writer.write_table(table, row_group_size=_ROWS_PER_GROUP)
            first_id, clock_us = first_id + len(g["order_id"]), int(g["ts_us"][-1])
        writer.close()
