"""Small helpers: fast JSON, stable hashing, deterministic uniform draws."""
from __future__ import annotations

import hashlib
import json as _json
import struct
from typing import Any

try:  # orjson is much faster for the heavy payloads; the stdlib is the fallback.
    import orjson as _orjson

    _OPTS = _orjson.OPT_NON_STR_KEYS | getattr(_orjson, "OPT_SERIALIZE_NUMPY", 0)

    def dumps(obj: Any) -> bytes:
        """JSON bytes; numpy arrays are serialized natively (no tolist) when orjson can."""
        return _orjson.dumps(obj, default=_np_default, option=_OPTS)

    def loads(data: bytes | str) -> Any:
        return _orjson.loads(data)

except ImportError:  # pragma: no cover - exercised only where orjson is missing
    def dumps(obj: Any) -> bytes:
        return _json.dumps(obj, separators=(",", ":"), default=_np_default).encode()

    def loads(data: bytes | str) -> Any:
        return _json.loads(data)


def _np_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def stable_hash(*parts: Any) -> int:
    """A 64-bit hash of the parts that is the same in every process (unlike hash())."""
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        h.update(repr(p).encode())
        h.update(b"\x1f")
    return struct.unpack("<Q", h.digest())[0]


def unit(*parts: Any) -> float:
    """A deterministic float in [0, 1) for the parts."""
    return stable_hash(*parts) / 2.0**64


def payload_identity(payload: Any, external_id: str | None = None) -> str:
    """Stable hash of a normalized payload plus the external id when given (for duplicate-write checks)."""
    norm = _normalize(payload)
    blob = _json.dumps(norm, sort_keys=True, separators=(",", ":"), default=str)
    h = hashlib.sha256(blob.encode())
    if external_id:
        h.update(b"\x00ext:" + str(external_id).encode())
    return h.hexdigest()[:32]


def _normalize(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _normalize(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_normalize(x) for x in v]
    if isinstance(v, bytes):
        return "sha256:" + hashlib.sha256(v).hexdigest()
    if isinstance(v, str):
        return v.strip()
    return v
