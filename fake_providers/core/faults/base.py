"""The one interface every fault type implements (in the manner of Toxiproxy's toxics): a type registers under a
name, parses and validates its own ``attributes``, and overrides only the hooks it needs; the base class is the
no-op fallback for every hook."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

from ..util import unit

NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


class FaultDefinitionError(ValueError):
    """A malformed fault definition; the control API answers 400 with this message."""


@dataclass
class Target:
    provider: str | None = None
    route: str | None = None      # glob over the route template or the concrete path ("webhook*" for webhooks)
    method: str | None = None
    user: str | None = None


@dataclass
class RequestContext:
    state: Any                    # the provider state (model)
    request: Any                  # aiohttp request
    route: str                    # "GET /api/v3/activities/{id}"
    template: str                 # "/api/v3/activities/{id}"
    method: str
    path: str
    user: str | None


@dataclass
class Delivery:
    """One webhook POST the fake makes to a subscriber."""
    kind: str                     # e.g. "strava.event", "fitbit.notification", "garmin.ping"
    url: str
    body: bytes
    headers: dict[str, str]
    users: list[str]
    timeout: float = 2.0
    attempts: int = 3
    expect: tuple[int, ...] = (200,)
    seq: int = 0
    copy: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def route(self) -> str:
        return f"WEBHOOK {self.kind}"


class Fault:
    type_name: ClassVar[str] = "noop"
    phase: ClassVar[str] = "request"     # request | webhook
    description: ClassVar[str] = "does nothing"
    # The attributes the type takes, read in this order (the first bad one is the one reported). A type whose
    # attributes depend on each other overrides ``parse`` instead.
    accepts: ClassVar[dict[str, "AttributeSpec"]] = {}

    def __init__(self, name: str, target: Target, probability: float, attributes: dict, seed: int,
                 max_hits: int | None = None) -> None:
        self.name = name
        self.target = target
        self.probability = probability
        self.raw_attributes = attributes
        self.attributes = self.parse(dict(attributes))
        self.seed = seed
        self.max_hits = max_hits
        self.matches = 0
        self.hits = 0

    # -- definition ----------------------------------------------------------------------------------------------
    @classmethod
    def parse(cls, attributes: dict) -> dict:
        """Validate and normalize the type's own settings; raise FaultDefinitionError saying what is wrong."""
        if not cls.accepts:
            if attributes:
                raise FaultDefinitionError(
                    f"fault type {cls.type_name!r} takes no attributes, got {sorted(attributes)}")
            return {}
        only(attributes, set(cls.accepts), cls.type_name)
        return {key: spec.read(attributes, key) for key, spec in cls.accepts.items()}

    def describe(self) -> dict:
        return {"name": self.name, "type": self.type_name, "target": {k: v for k, v in vars(self.target).items()
                                                                      if v is not None},
                "probability": self.probability, "attributes": self.raw_attributes, "max_hits": self.max_hits,
                "matches": self.matches, "hits": self.hits}

    # -- decision ------------------------------------------------------------------------------------------------
    def fires(self) -> bool:
        """Called once per matching request/delivery: deterministic for (seed, name, n-th match)."""
        self.matches += 1
        if self.max_hits is not None and self.hits >= self.max_hits:
            return False
        if self.probability <= 0:
            return False
        if self.probability >= 1 or unit(self.seed, self.name, self.matches) < self.probability:
            self.hits += 1
            return True
        return False

    def draw(self, *extra: Any) -> float:
        """A deterministic uniform draw for the current hit (latency values and the like)."""
        return unit(self.seed, self.name, "draw", self.hits, *extra)

    # -- hooks (no-op fallbacks) -----------------------------------------------------------------------------
    async def on_install(self, state: Any) -> None:
        """Called once when the fault is added."""

    async def before(self, ctx: RequestContext) -> Any:
        """Before the handler: may sleep, raise ProviderError, abort, or return a response to send instead."""
        return None

    async def after(self, ctx: RequestContext, response: Any) -> Any:
        """After the handler: may replace the response."""
        return response

    def on_webhook(self, delivery: Delivery, emitter: Any) -> list[Delivery] | None:
        """Webhook phase: return the deliveries to send now in place of ``delivery`` (None: unchanged)."""
        return None


def number(attrs: dict, key: str, default: float | None = None, *, lo: float | None = 0, hi: float | None = None,
           integer: bool = False, required: bool = False) -> float | None:
    if key not in attrs or attrs[key] is None:
        if required:
            raise FaultDefinitionError(f"attribute {key!r} is required")
        return default
    v = attrs[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise FaultDefinitionError(f"attribute {key!r} must be a number, got {v!r}")
    if integer and int(v) != v:
        raise FaultDefinitionError(f"attribute {key!r} must be an integer, got {v!r}")
    if lo is not None and v < lo:
        raise FaultDefinitionError(f"attribute {key!r} must be >= {lo}, got {v!r}")
    if hi is not None and v > hi:
        raise FaultDefinitionError(f"attribute {key!r} must be <= {hi}, got {v!r}")
    return int(v) if integer else float(v)


def only(attrs: dict, allowed: set[str], type_name: str) -> None:
    extra = set(attrs) - allowed
    if extra:
        raise FaultDefinitionError(
            f"unknown attribute(s) {sorted(extra)} for fault type {type_name!r}; allowed: {sorted(allowed)}")


def choice(attrs: dict, key: str, default: str, options: tuple[str, ...]) -> str:
    value = attrs.get(key, default)
    if value not in options:
        spelled = f"{', '.join(options[:-1])} or {options[-1]}" if len(options) > 1 else options[0]
        raise FaultDefinitionError(f"attribute {key!r} must be {spelled}, got {value!r}")
    return value


def flag(attrs: dict, key: str, default: bool) -> bool:
    if key in attrs and not isinstance(attrs[key], bool):
        raise FaultDefinitionError(f"attribute {key!r} must be true or false")
    return attrs.get(key, default)


@dataclass(frozen=True)
class Number:
    """A numeric attribute, read by ``number`` with these bounds."""
    default: float | None = None
    lo: float | None = 0
    hi: float | None = None
    integer: bool = False
    required: bool = False

    def read(self, attrs: dict, key: str) -> float | None:
        return number(attrs, key, self.default, lo=self.lo, hi=self.hi, integer=self.integer, required=self.required)


@dataclass(frozen=True)
class Choice:
    """One of a few words."""
    default: str
    options: tuple[str, ...]

    def read(self, attrs: dict, key: str) -> str:
        return choice(attrs, key, self.default, self.options)


@dataclass(frozen=True)
class Flag:
    """true or false."""
    default: bool

    def read(self, attrs: dict, key: str) -> bool:
        return flag(attrs, key, self.default)


AttributeSpec = Union[Number, Choice, Flag]
