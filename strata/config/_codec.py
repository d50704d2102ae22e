"""One generic codec between our typed Structs and AIStore's JSON for config and bucket props.

Why not plain ``msgspec.json.encode``: AIStore's encodings are per field, not per type. An ``int`` can
be a number (``mirror.copies``), a quoted number (``access``, the ``,string`` tag) or a size string
(``chunks.chunk_size`` = ``"1GiB"``); a duration is a Go duration string; some leaves vanish when zero
(``omitempty``) while struct-typed fields never do. We keep natural Python values in the Structs (bytes
as ``int``, durations as float seconds) and mark the wire encoding on the field with ``Annotated``:

    Duration   -> "2h0m"             SizeIEC  -> "256KiB"
    QuotedInt  -> "18446744073709551615"
    OmitZero   -> left out when 0 / "" / empty (Go's omitempty on a leaf)
    SizeExact  -> "4MiB" or "5000B" (Strata's own keys: exact, and a JSON number of bytes is accepted too)
    SizeOrAuto -> a SizeExact where 0 is spelled "auto" both ways
    ``X | None`` fields are pointers in Go: left out when None.

Decoding follows AIStore's jsoniter setup: keys match case-insensitively, unknown keys are rejected, and
a partial document is merged over an existing value (that is how create-bck, set-bprops and set-config
work). Being an HTTP front for humans and the ``ais`` CLI, we also accept string spellings of scalars
(``"91"``, ``"true"``) -- the CLI sends every value as a string.
"""

from __future__ import annotations

import copy
import enum
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import msgspec

from .units import format_duration, format_size_exact, format_size_iec, parse_duration, parse_size_iec


class Wire(enum.Enum):
    DURATION = "duration"
    SIZE = "size"
    QUOTED = "quoted"
    OMIT_ZERO = "omit_zero"
    SIZE_EXACT = "size_exact"
    AUTO = "auto"


Duration = Annotated[float, Wire.DURATION]
SizeIEC = Annotated[int, Wire.SIZE]
QuotedInt = Annotated[int, Wire.QUOTED]
SizeExact = Annotated[int, Wire.SIZE_EXACT]
SizeOrAuto = Annotated[int, Wire.SIZE_EXACT, Wire.AUTO]

StructT = TypeVar("StructT", bound=msgspec.Struct)


class FieldError(ValueError):
    """A value that cannot be decoded; ``str()`` names the dotted key first."""


@dataclass(frozen=True)
class _Field:
    name: str  # Python attribute
    key: str  # AIStore JSON key
    kind: str  # bool | int | float | str | duration | size | size_exact | quoted | struct | list | dict | any
    struct: type[msgspec.Struct] | None
    optional: bool
    omit_zero: bool
    auto: bool = False  # 0 is spelled "auto" on the wire (SizeOrAuto)


def _classify(name: str, key: str, tp: Any) -> _Field:
    optional = False
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        optional = len(members) != len(typing.get_args(tp))
        tp = members[0]
    markers: tuple[Any, ...] = ()
    if typing.get_origin(tp) is Annotated:
        markers = tp.__metadata__
        tp = typing.get_args(tp)[0]
    origin = typing.get_origin(tp) or tp
    struct: type[msgspec.Struct] | None = None
    if Wire.DURATION in markers:
        kind = "duration"
    elif Wire.SIZE in markers:
        kind = "size"
    elif Wire.SIZE_EXACT in markers:
        kind = "size_exact"
    elif Wire.QUOTED in markers:
        kind = "quoted"
    elif isinstance(origin, type) and issubclass(origin, msgspec.Struct):
        kind, struct = "struct", origin
    elif origin in (bool, int, float, str):
        kind = origin.__name__
    elif origin is list:
        kind = "list"
    elif origin is dict:
        kind = "dict"
    else:
        kind = "any"
    return _Field(name, key, kind, struct, optional, Wire.OMIT_ZERO in markers, Wire.AUTO in markers)


@functools.cache
def _fields(cls: type[msgspec.Struct]) -> tuple[_Field, ...]:
    return tuple(_classify(f.name, f.encode_name, f.type) for f in msgspec.structs.fields(cls))


@functools.cache
def _fields_by_lower_key(cls: type[msgspec.Struct]) -> dict[str, _Field]:
    return {f.key.lower(): f for f in _fields(cls)}


def wire_keys(cls: type[msgspec.Struct]) -> list[str]:
    """The JSON keys of ``cls`` in encoding order (for tests and error hints)."""
    return [f.key for f in _fields(cls)]


# --- encoding --------------------------------------------------------------------------------------


def to_wire(obj: msgspec.Struct) -> dict[str, Any]:
    """The AIStore-shaped builtins of a Struct, keys in field order."""
    out: dict[str, Any] = {}
    for field in _fields(type(obj)):
        value = getattr(obj, field.name)
        if value is None and field.optional:
            continue
        if field.omit_zero and not value:
            continue
        out[field.key] = _encode_value(field, value)
    return out


def _encode_value(field: _Field, value: Any) -> Any:
    if field.kind == "struct":
        return to_wire(value)
    if field.kind == "duration":
        return format_duration(value)
    if field.kind == "size":
        return format_size_iec(value)
    if field.kind == "size_exact":
        return "auto" if field.auto and value == 0 else format_size_exact(value)
    if field.kind == "quoted":
        return str(value)
    if field.kind in ("list", "dict", "any"):
        return msgspec.to_builtins(value)
    return value


# --- decoding --------------------------------------------------------------------------------------


def decode_json_object(data: bytes | str, what: str) -> dict[str, Any]:
    """Parse JSON text that must be an object; ``FieldError`` names ``what`` on failure."""
    try:
        parsed = msgspec.json.decode(data)
    except msgspec.DecodeError as err:
        raise FieldError(f"{what} is not valid JSON ({err})") from None
    if not isinstance(parsed, dict):
        raise FieldError(f"{what} must be a JSON object, got {_json_type(parsed)}")
    return parsed


def expand_dotted(partial: Mapping[str, Any]) -> dict[str, Any]:
    """``{"space.highwm": "91", "lru": {...}}`` -> ``{"space": {"highwm": "91"}, "lru": {...}}``.

    Only top-level keys are split (that is what the CLI sends): keys inside nested objects are left
    alone, because free-form sections such as ``backend`` may legitimately contain dots. The input is
    never modified.
    """
    out: dict[str, Any] = {}
    for raw_key, value in partial.items():
        key = str(raw_key)
        parts = key.split(".")
        if any(not part for part in parts):
            raise FieldError(f'invalid key "{key}"')
        node = out
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                section = ".".join(parts[: depth + 1])
                raise FieldError(f'key "{section}" is given both as a value and a section')
            node = child
        leaf = parts[-1]
        if isinstance(value, Mapping):
            value = copy.deepcopy(dict(value))
            existing = node.get(leaf)
            if isinstance(existing, dict):
                _deep_update(existing, value)
                continue
        elif leaf in node and isinstance(node[leaf], dict):
            raise FieldError(f'key "{key}" is given both as a value and a section')
        node[leaf] = value
    return out


def _deep_update(target: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = value


def merge(
    obj: StructT,
    partial: Any,
    *,
    path: str = "",
    readonly: frozenset[str] = frozenset(),
) -> StructT:
    """A copy of ``obj`` with the (nested, AIStore-keyed) ``partial`` applied; ``obj`` is not touched.

    ``readonly`` holds dotted wire keys that may not be set (e.g. ``provider`` for set-bprops).
    """
    if not isinstance(partial, Mapping):
        raise FieldError(f"{path or 'value'} must be a JSON object, got {_json_type(partial)}")
    by_key = _fields_by_lower_key(type(obj))
    changes: dict[str, Any] = {}
    for raw_key, value in partial.items():
        field = by_key.get(str(raw_key).lower())
        if field is None:
            full = _join(path, str(raw_key))
            hint = ", ".join(wire_keys(type(obj)))
            raise FieldError(f'unknown key "{full}" (expected one of: {hint})')
        full = _join(path, field.key)
        if full in readonly:
            raise FieldError(f'"{full}" is read-only')
        # Keys that differ only in case ("Space" and "space") both land on the same field, merged in order.
        current = changes.get(field.name, getattr(obj, field.name))
        changes[field.name] = _decode_value(field, current, value, full, readonly)
    return msgspec.structs.replace(obj, **changes) if changes else obj


def _decode_value(field: _Field, current: Any, value: Any, key: str, readonly: frozenset[str]) -> Any:
    if field.kind == "struct":
        assert field.struct is not None
        if value is None and field.optional:
            return None
        if isinstance(value, str):
            value = decode_json_object(value, key)
        base = current if current is not None else field.struct()
        return merge(base, value, path=key, readonly=readonly)
    if field.auto:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return 0
        try:
            return decode_scalar(field.kind, value, key)
        except FieldError:
            raise FieldError(f'{key} is not "auto" or a valid size: {_show(value)} (e.g. "4MiB")') from None
    return decode_scalar(field.kind, value, key)


def decode_scalar(kind: str, value: Any, key: str) -> Any:
    """Decode one leaf of the given kind, accepting the string spellings the ``ais`` CLI sends."""
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise FieldError(f"{key} must be a boolean, got {_show(value)}")
    if kind in ("int", "quoted"):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip(), 10)
            except ValueError:
                pass
        raise FieldError(f"{key} must be an integer, got {_show(value)}")
    if kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise FieldError(f"{key} must be a number, got {_show(value)}")
    if kind == "str":
        if isinstance(value, str):
            return value
        raise FieldError(f"{key} must be a string, got {_show(value)}")
    if kind == "duration":
        if not isinstance(value, str):
            raise FieldError(f'{key} must be a duration string such as "30s" or "2h0m", got {_show(value)}')
        try:
            return parse_duration(value)
        except ValueError:
            raise FieldError(f'{key} is not a valid duration: {_show(value)} (e.g. "30s", "2h0m")') from None
    if kind == "size":
        if not isinstance(value, str):
            raise FieldError(f'{key} must be a size string such as "256KiB" or "1GiB", got {_show(value)}')
        try:
            return parse_size_iec(value)
        except ValueError:
            raise FieldError(f'{key} is not a valid size: {_show(value)} (e.g. "256KiB", "1GiB")') from None
    if kind == "size_exact":
        if isinstance(value, int) and not isinstance(value, bool):
            return value  # a number of bytes
        if isinstance(value, str):
            try:
                return parse_size_iec(value)
            except ValueError:
                pass
        raise FieldError(f'{key} is not a valid size: {_show(value)} (e.g. "4MiB", "65536", or 65536)')
    if kind == "list":
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                value = _decode_json(text, key)
            else:
                value = [item.strip() for item in text.split(",") if item.strip()]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return list(value)
        raise FieldError(f"{key} must be a list of strings, got {_show(value)}")
    if kind == "dict":
        if isinstance(value, str):
            value = _decode_json(value, key)
        if isinstance(value, dict):
            return dict(value)
        raise FieldError(f"{key} must be a JSON object, got {_show(value)}")
    return value


def _decode_json(text: str, key: str) -> Any:
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        raise FieldError(f"{key} is not valid JSON: {_show(text)}") from None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _show(value: Any) -> str:
    """A short JSON rendering of a bad value for an error message."""
    try:
        text = msgspec.json.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
