"""The wire protocol v1 (docs/protocol.md): frames, headers, limits, the manifest digest and the
command-result cap. Pure functions; no sockets here."""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

__all__ = [
    "PROTOCOL_VERSION",
    "SOFTWARE",
    "MAX_TOPIC_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_BODY_BYTES",
    "MAX_RESULT_BYTES",
    "MAX_MESSAGE_CHARS",
    "TRUNCATION_MARKER",
    "WireError",
    "Decoded",
    "now_ms",
    "encode_json",
    "canonical_json",
    "manifest_digest",
    "json_value",
    "header",
    "frames",
    "decode",
    "truncate_message",
    "cap_result",
]

PROTOCOL_VERSION = 1
SOFTWARE = "capsule-py/0.1"

MAX_TOPIC_BYTES = 256
MAX_HEADER_BYTES = 4096
MAX_BODY_BYTES = 262_144
#: A `command.result` body may be at most this many bytes of encoded JSON.
MAX_RESULT_BYTES = 65_536
#: A result's `message` (and its error's message) is cut to this many characters.
MAX_MESSAGE_CHARS = 4096
TRUNCATION_MARKER = "…[truncated]"


class WireError(ValueError):
    """A message that does not follow the protocol."""


def now_ms() -> int:
    """Milliseconds since the Unix epoch: the protocol's date format."""
    return int(time.time() * 1000)


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON as sent on the wire."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


# MARK: canonical JSON, byte-for-byte as Swift's JSONEncoder with .sortedKeys


def _swift_number(value: float) -> str:
    # Swift holds JSON numbers as Double and prints the shortest round-trip form, as Python's repr
    # does, dropping a trailing ".0" (3.0 -> "3", 1e16 -> "1e+16", 1e-05 -> "1e-05").
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _swift_string(value: str) -> str:
    # Swift escapes '"', '\\', '/', \b \f \n \r \t and other control characters as \u00XX, and
    # writes everything else (DEL and non-ASCII included) as raw UTF-8: exactly Python's
    # ensure_ascii=False output, plus "\/". A '/' in Python's output can only come from a '/'.
    return json.dumps(value, ensure_ascii=False).replace("/", "\\/")


def _canonical(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError("JSON numbers must be finite")
        out.append(_swift_number(value))
    elif isinstance(value, str):
        out.append(_swift_string(value))
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _canonical(item, out)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        for index, key in enumerate(sorted(value)):
            if index:
                out.append(",")
            out.append(_swift_string(key))
            out.append(":")
            _canonical(value[key], out)
        out.append("}")
    else:
        raise TypeError(f"not a JSON value: {type(value).__name__}")


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys, byte-for-byte what Swift's `JSONEncoder` (`.sortedKeys`) writes for
    the same value held as CapsuleDomain types."""
    out: list[str] = []
    _canonical(value, out)
    return "".join(out).encode("utf-8")


def manifest_digest(manifests: list[dict[str, Any]]) -> str:
    """`ManifestDigest.of` of the Swift SDK: FNV-1a 64 over the canonical JSON of the manifests
    sorted by code, as 16 lowercase hex digits. Change detection, not a security hash."""
    data = canonical_json(sorted(manifests, key=lambda manifest: str(manifest["code"])))
    digest = 0xCBF29CE484222325
    for byte in data:
        digest ^= byte
        digest = (digest * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{digest:016x}"


def json_value(value: Any, path: str = "$") -> Any:
    """A plain-JSON copy of `value` (dicts with string keys, lists, str, int, float, bool, None).

    Tuples become lists. Raises ValueError naming the path of anything else (a set, a datetime,
    a non-string key, NaN), so bad data fails where it is produced, not on the wire.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value!r} is not a JSON number")
        return value
    if isinstance(value, dict):
        copy: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: object key {key!r} is not a string")
            copy[key] = json_value(item, f"{path}.{key}")
        return copy
    if isinstance(value, (list, tuple)):
        return [json_value(item, f"{path}[{index}]") for index, item in enumerate(value)]
    raise ValueError(f"{path}: {type(value).__name__} is not a JSON value")


# MARK: frames


def header(kind: str, sender: str, seq: int = 0, corr: str | None = None) -> dict[str, Any]:
    """A v1 header: a fresh UUID, the time in integer milliseconds, `seq` 0 off PUB streams."""
    out: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": kind, "id": str(uuid.uuid4()).upper(),
                           "sender": sender, "ts": now_ms(), "seq": seq}
    if corr is not None:
        out["corr"] = corr
    return out


def frames(head: dict[str, Any], body: Any, topic: str | None = None) -> list[bytes]:
    """`[header, body]` for the DEALER, `[topic, header, body]` for the PUB."""
    out = [encode_json(head), encode_json(body)]
    if topic is not None:
        out.insert(0, topic.encode("utf-8"))
    return out


@dataclass(frozen=True)
class Decoded:
    header: dict[str, Any]
    body: Any

    @property
    def type(self) -> str:
        return str(self.header.get("type", ""))


def decode(message: list[bytes]) -> Decoded:
    """Decodes a two-frame DEALER message from the broker, checking sizes before parsing."""
    if len(message) != 2:
        raise WireError(f"expected 2 frames, got {len(message)}")
    head_bytes, body_bytes = message
    if len(head_bytes) > MAX_HEADER_BYTES or len(body_bytes) > MAX_BODY_BYTES:
        raise WireError("oversized frame")
    try:
        head = json.loads(head_bytes)
        body = json.loads(body_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise WireError(f"not JSON: {error}") from None
    if not isinstance(head, dict):
        raise WireError("header is not an object")
    if head.get("v") != PROTOCOL_VERSION:
        raise WireError(f"unsupported version {head.get('v')!r}")
    if not isinstance(head.get("type"), str):
        raise WireError("header has no type")
    return Decoded(head, body)


# MARK: command results


def truncate_message(text: str) -> str:
    """Cuts text longer than 4,096 characters to 4,096, the last ones being `…[truncated]`."""
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    return text[: MAX_MESSAGE_CHARS - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


def cap_result(body: dict[str, Any]) -> dict[str, Any]:
    """Applies the protocol's result limits to a `command.result` body.

    Messages are cut to 4,096 characters; a body whose encoded JSON exceeds 65,536 bytes is
    replaced by a failed result with error `result_too_large`.
    """
    capped = dict(body)
    if isinstance(capped.get("message"), str):
        capped["message"] = truncate_message(capped["message"])
    error = capped.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        capped["error"] = {**error, "message": truncate_message(error["message"])}
    size = len(encode_json(capped))
    if size > MAX_RESULT_BYTES:
        return {
            "commandId": capped["commandId"],
            "success": False,
            "error": {"code": "result_too_large", "message": f"result of {size} bytes exceeds {MAX_RESULT_BYTES}"},
        }
    return capped
