"""JSON-protocol (de)serialisation for the wire client, shaped like botocore's so responses are drop-in.

On the wire the AWS JSON protocols carry blobs as base64 strings and timestamps as epoch seconds; boto3 hands
back ``bytes`` and timezone-aware ``datetime``. Walking every response like botocore does is most of what a
response costs, and almost no response of the hot path holds either type (DynamoDB items of strings and numbers,
SQS messages without binary attributes). So, per operation, from botocore's model (loaded anyway for the
fallback client), this module precomputes:

- the member names under which a blob or timestamp can appear (``"B"``, ``"BS"``, ``"BinaryValue"``...): a
  response whose raw bytes do not contain any of them (quoted) is returned as parsed, untouched;
- otherwise a walk along the shapes that can lead to one (recursive shapes like DynamoDB's AttributeValue are
  handled by memoising per shape name).

Requests: ``bytes`` become base64 and ``datetime`` epoch seconds (the orjson ``default`` hook), members marked
``idempotencyToken`` are filled with a UUID when absent, as botocore does.
"""
from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import orjson
from botocore.model import OperationModel, Shape

Converter = Callable[[Any], Any]
_CONVERTIBLE = ("blob", "timestamp")


def _default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.datetime):
        return value.timestamp() if value.tzinfo else value.replace(tzinfo=dt.timezone.utc).timestamp()
    if isinstance(value, str):  # a str subclass orjson refuses
        return str(value)
    value_attr = getattr(value, "value", None)   # boto3.dynamodb.types.Binary
    if isinstance(value_attr, (bytes, bytearray)):
        return base64.b64encode(bytes(value_attr)).decode("ascii")
    raise TypeError(f"cannot serialise {type(value).__name__} for an AWS JSON request")


def encode_body(params: dict[str, Any]) -> bytes:
    return orjson.dumps(params, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


def _to_blob(value: Any) -> Any:
    return base64.b64decode(value) if isinstance(value, str) else value


def _to_timestamp(value: Any) -> Any:
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc).astimezone(_LOCAL_TZ)
    if isinstance(value, str):
        try:
            return dt.datetime.fromtimestamp(float(value), tz=dt.timezone.utc).astimezone(_LOCAL_TZ)
        except ValueError:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(_LOCAL_TZ)
    return value


# botocore parses timestamps to tzlocal(); a datetime is equal whatever its zone, so local == its choice.
_LOCAL_TZ = dt.datetime.now().astimezone().tzinfo


def _identity(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class OutputPlan:
    """How to turn an operation's parsed JSON output into botocore's shape."""
    markers: tuple[bytes, ...]     # raw-body substrings that mean "a blob/timestamp may be present"
    convert: Converter

    def apply(self, raw: bytes, parsed: Any) -> Any:
        if b"null" in raw:   # botocore leaves out members that came as JSON null
            parsed = _without_nulls(parsed)
        if not self.markers or not any(marker in raw for marker in self.markers):
            return parsed
        return self.convert(parsed)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _direct(shape: Shape) -> bool:
    """A blob/timestamp, or a list/map of them with no structure in between (its member name precedes it)."""
    if shape.type_name in _CONVERTIBLE:
        return True
    if shape.type_name == "list":
        return _direct(shape.member)
    if shape.type_name == "map":
        return _direct(shape.value)
    return False


def _leading_names(shape: Shape, seen: set[str] | None = None) -> set[str]:
    """Member names under which a blob/timestamp value can appear anywhere below ``shape``."""
    seen = set() if seen is None else seen
    if shape.name in seen:
        return set()
    seen.add(shape.name)
    names: set[str] = set()
    if shape.type_name == "structure":
        for name, member in shape.members.items():
            if _direct(member):
                names.add(member.serialization.get("name", name))
            names |= _leading_names(member, seen)
    elif shape.type_name == "list":
        names |= _leading_names(shape.member, seen)
    elif shape.type_name == "map":
        names |= _leading_names(shape.value, seen)
    return names


def _holds_convertible(shape: Shape, seen: set[str]) -> bool:
    if shape.type_name in _CONVERTIBLE:
        return True
    if shape.name in seen:
        return False
    seen.add(shape.name)
    if shape.type_name == "structure":
        return any(_holds_convertible(m, seen) for m in shape.members.values())
    if shape.type_name == "list":
        return _holds_convertible(shape.member, seen)
    if shape.type_name == "map":
        return _holds_convertible(shape.value, seen)
    return False


def _compile(shape: Shape, memo: dict[str, Converter]) -> Converter:
    if not _holds_convertible(shape, set()):
        return _identity
    if shape.type_name == "blob":
        return _to_blob
    if shape.type_name == "timestamp":
        return _to_timestamp
    if shape.name in memo:
        return memo[shape.name]
    slot: list[Converter] = []
    memo[shape.name] = lambda value: slot[0](value)   # recursion (AttributeValue -> M -> AttributeValue)
    if shape.type_name == "structure":
        fields = [(m.serialization.get("name", n), _compile(m, memo)) for n, m in shape.members.items()
                  if _holds_convertible(m, set())]

        def convert(value: Any) -> Any:
            if isinstance(value, dict):
                for key, inner in fields:
                    if key in value and value[key] is not None:
                        value[key] = inner(value[key])
            return value
    elif shape.type_name == "list":
        inner_list = _compile(shape.member, memo)

        def convert(value: Any) -> Any:
            return [inner_list(v) for v in value] if isinstance(value, list) else value
    else:  # map
        inner_map = _compile(shape.value, memo)

        def convert(value: Any) -> Any:
            return {k: inner_map(v) for k, v in value.items()} if isinstance(value, dict) else value
    slot.append(convert)
    memo[shape.name] = convert
    return convert


def output_plan(shape: Shape | None) -> OutputPlan:
    if shape is None or not _holds_convertible(shape, set()):
        return OutputPlan((), _identity)
    markers = tuple(f'"{name}"'.encode() for name in sorted(_leading_names(shape)))
    return OutputPlan(markers, _compile(shape, {}))


def idempotency_members(operation: OperationModel) -> tuple[str, ...]:
    shape = operation.input_shape
    if shape is None:
        return ()
    return tuple(name for name, member in shape.members.items() if member.metadata.get("idempotencyToken"))


def fill_idempotency_tokens(params: dict[str, Any], members: tuple[str, ...]) -> dict[str, Any]:
    missing = [m for m in members if m not in params]
    if not missing:
        return params
    return {**params, **{m: str(uuid.uuid4()) for m in missing}}


def parse_body(raw: bytes) -> Any:
    return orjson.loads(raw) if raw else {}
