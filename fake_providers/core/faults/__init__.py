"""Fault registry and engine. Each fault type is one small module registering a ``Fault`` subclass by name; an
unknown name resolves to the no-op fallback at run time, but is refused (400) when a fault is defined."""
from __future__ import annotations

import fnmatch
from collections import OrderedDict
from typing import Any

from .base import (Delivery, Fault, FaultDefinitionError, NAME_RE, RequestContext, Target)

REGISTRY: dict[str, type[Fault]] = {"noop": Fault}
ALIASES: dict[str, str] = {}


def register(cls: type[Fault], *aliases: str) -> type[Fault]:
    REGISTRY[cls.type_name] = cls
    for a in aliases:
        ALIASES[a] = cls.type_name
    return cls


def get(type_name: str) -> type[Fault]:
    """The fault class for a name, or the no-op fallback."""
    return REGISTRY.get(ALIASES.get(type_name, type_name), Fault)


def _load_builtin() -> None:
    from . import body, error, hang, latency, reset, revoke, storm, webhook_duplicate, webhook_order  # noqa: F401


ENVELOPE_KEYS = {"name", "type", "target", "probability", "attributes", "max_hits", "toxicity"}
TARGET_KEYS = {"provider", "route", "method", "user"}


def parse_envelope(env: Any, provider: str, seed: int) -> Fault:
    if not isinstance(env, dict):
        raise FaultDefinitionError("a fault definition must be a JSON object {name, type, target, probability, "
                                   "attributes}")
    extra = set(env) - ENVELOPE_KEYS
    if extra:
        raise FaultDefinitionError(f"unknown field(s) {sorted(extra)} in fault envelope; allowed: "
                                   f"{sorted(ENVELOPE_KEYS - {'toxicity'})}")
    name = env.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise FaultDefinitionError("'name' is required: 1-100 characters of letters, digits, '_', '.', ':', '-'")
    tname = env.get("type")
    if not isinstance(tname, str) or not tname:
        raise FaultDefinitionError(f"'type' is required; known types: {', '.join(sorted(REGISTRY))}")
    tname = ALIASES.get(tname, tname)
    if tname not in REGISTRY:
        raise FaultDefinitionError(f"unknown fault type {tname!r}; known types: {', '.join(sorted(REGISTRY))}")
    prob = env.get("probability", env.get("toxicity", 1.0))
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 <= prob <= 1:
        raise FaultDefinitionError(f"'probability' must be a number between 0 and 1, got {prob!r}")
    tgt = env.get("target") or {}
    if not isinstance(tgt, dict):
        raise FaultDefinitionError("'target' must be an object {provider, route, method, user}")
    bad = set(tgt) - TARGET_KEYS
    if bad:
        raise FaultDefinitionError(f"unknown target field(s) {sorted(bad)}; allowed: {sorted(TARGET_KEYS)}")
    for k, v in tgt.items():
        if v is not None and not isinstance(v, str):
            raise FaultDefinitionError(f"target.{k} must be a string, got {v!r}")
    if tgt.get("provider") and tgt["provider"] not in (provider, "*"):
        raise FaultDefinitionError(f"target.provider {tgt['provider']!r} does not name this fake ({provider!r})")
    if tgt.get("method") and tgt["method"].upper() not in {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "*"}:
        raise FaultDefinitionError(f"target.method {tgt['method']!r} is not an HTTP method")
    attrs = env.get("attributes") or {}
    if not isinstance(attrs, dict):
        raise FaultDefinitionError("'attributes' must be an object")
    max_hits = env.get("max_hits")
    if max_hits is not None and (isinstance(max_hits, bool) or not isinstance(max_hits, int) or max_hits < 0):
        raise FaultDefinitionError(f"'max_hits' must be a non-negative integer, got {max_hits!r}")
    target = Target(provider=tgt.get("provider"), route=tgt.get("route"),
                    method=(tgt.get("method") or "").upper() or None, user=tgt.get("user"))
    return REGISTRY[tname](name, target, float(prob), attrs, seed, max_hits)


class FaultEngine:
    def __init__(self, provider: str, seed: int = 0) -> None:
        _load_builtin()
        self.provider = provider
        self.seed = seed
        self.faults: OrderedDict[str, Fault] = OrderedDict()
        self.request_faults: list[Fault] = []
        self.webhook_faults: list[Fault] = []

    def _reindex(self) -> None:
        self.request_faults = [f for f in self.faults.values() if f.phase == "request"]
        self.webhook_faults = [f for f in self.faults.values() if f.phase == "webhook"]

    def add(self, envelope: Any) -> Fault:
        fault = parse_envelope(envelope, self.provider, self.seed)
        self.faults.pop(fault.name, None)
        self.faults[fault.name] = fault
        self._reindex()
        return fault

    def remove(self, name: str) -> bool:
        found = self.faults.pop(name, None) is not None
        self._reindex()
        return found

    def clear(self) -> None:
        self.faults.clear()
        self._reindex()

    def reseed(self, seed: int) -> None:
        self.seed = seed
        for f in self.faults.values():
            f.seed = seed

    @staticmethod
    def _route_matches(pattern: str | None, *candidates: str) -> bool:
        if not pattern or pattern == "*":
            return True
        return any(c and (c == pattern or fnmatch.fnmatchcase(c, pattern)) for c in candidates)

    def for_request(self, ctx: RequestContext) -> list[Fault]:
        fired = []
        for f in self.request_faults:
            t = f.target
            if t.method and t.method != "*" and t.method != ctx.method:
                continue
            if t.user and t.user != ctx.user:
                continue
            if not self._route_matches(t.route, ctx.template, ctx.path, ctx.route):
                continue
            if f.fires():
                fired.append(f)
        return fired

    def for_webhook(self, d: Delivery) -> list[Fault]:
        fired = []
        for f in self.webhook_faults:
            t = f.target
            if t.user and t.user not in d.users:
                continue
            if not self._route_matches(t.route, d.kind, d.route, "webhook"):
                continue
            if f.fires():
                fired.append(f)
        return fired

    def describe(self) -> list[dict]:
        return [f.describe() for f in self.faults.values()]

    @staticmethod
    def types() -> dict[str, str]:
        _load_builtin()
        return {k: v.description for k, v in sorted(REGISTRY.items())}


__all__ = ["FaultEngine", "Fault", "FaultDefinitionError", "Delivery", "RequestContext", "register", "get",
           "REGISTRY"]
