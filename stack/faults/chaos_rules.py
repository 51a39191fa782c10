"""LocalStack Chaos API rules (``/_localstack/chaos/faults``) and effects (``/_localstack/chaos/effects``) as the
AWS chaos proxy evaluates them.

A rule: ``{"region"?, "service"?, "operation"?, "probability"? (1), "error"? {"statusCode" (503), "code"
("ServiceUnavailable")}}`` -- an omitted field matches everything; rules are evaluated in order and the first
that matches and fires answers with its error. Extensions (ignored by LocalStack's own format, optional here):
``name`` (for rollbacks), ``seed`` (the rule's own random stream: the n-th matching call fires or not the same
way every run), ``latency_ms``/``jitter_ms`` (a latency rule: every matching rule delays the call; it answers
no error unless it also has ``error``), ``error.message``.
"""
from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass, field
from typing import Any

from stack.faults.aws_errors import FALLBACK_ERROR
from stack.faults.envelope import FaultDefinitionError

RULE_KEYS = {"region", "service", "operation", "probability", "error", "name", "seed", "latency_ms", "jitter_ms",
             "description"}


@dataclass
class ChaosRule:
    raw: dict[str, Any]                       # as given (what GET returns)
    region: str | None
    service: str | None
    operation: str | None
    probability: float
    status: int | None                        # None: a latency-only rule
    code: str | None
    message: str | None
    latency_ms: float
    jitter_ms: float
    rng: random.Random
    matched: int = 0
    fired: int = 0

    def matches(self, service: str | None, operation: str | None, region: str | None) -> bool:
        return ((self.service is None or self.service == service)
                and (self.operation is None or self.operation == operation)
                and (self.region is None or self.region == region))

    def draw(self) -> bool:
        """One seeded draw per matching call (called under the rule set's lock)."""
        self.matched += 1
        fires = self.probability >= 1 or self.rng.random() < self.probability
        self.fired += fires
        return fires


def parse_rule(raw: Any, default_seed: str) -> ChaosRule:
    if not isinstance(raw, dict):
        raise FaultDefinitionError(f"a chaos rule must be an object, got {raw!r}")
    unknown = set(raw) - RULE_KEYS
    if unknown:
        raise FaultDefinitionError(f"unknown chaos rule field(s) {sorted(unknown)}; allowed: {sorted(RULE_KEYS)}")
    for key in ("region", "service", "operation", "name"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise FaultDefinitionError(f"chaos rule field {key!r} must be a string, got {raw[key]!r}")
    probability = raw.get("probability", 1)
    if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0 <= probability <= 1:
        raise FaultDefinitionError(f"chaos rule 'probability' must be a number from 0 to 1, got {probability!r}")
    latency, jitter = raw.get("latency_ms", 0), raw.get("jitter_ms", 0)
    for key, value in (("latency_ms", latency), ("jitter_ms", jitter)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise FaultDefinitionError(f"chaos rule {key!r} must be a number >= 0, got {value!r}")
    status, code, message = _error(raw, latency_only="latency_ms" in raw and "error" not in raw)
    seed = raw.get("seed")
    return ChaosRule(raw=dict(raw), region=raw.get("region"), service=raw.get("service"),
                     operation=raw.get("operation"), probability=float(probability), status=status, code=code,
                     message=message, latency_ms=float(latency), jitter_ms=float(jitter),
                     rng=random.Random(seed if isinstance(seed, int) else f"{default_seed}:{_canonical(raw)}"))


def _error(raw: dict[str, Any], latency_only: bool) -> tuple[int | None, str | None, str | None]:
    if latency_only:
        return None, None, None
    error = raw.get("error") or {}
    if not isinstance(error, dict):
        raise FaultDefinitionError(f"chaos rule 'error' must be an object {{statusCode, code}}, got {error!r}")
    status = error.get("statusCode", FALLBACK_ERROR[0])
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise FaultDefinitionError(f"chaos rule error.statusCode must be an integer 400-599, got {status!r}")
    code = error.get("code", FALLBACK_ERROR[1])
    if not isinstance(code, str) or not code:
        raise FaultDefinitionError(f"chaos rule error.code must be a non-empty string, got {code!r}")
    message = error.get("message")
    return status, code, str(message) if message is not None else None


def _canonical(raw: dict[str, Any]) -> str:
    return json.dumps(raw, sort_keys=True, separators=(",", ":"))


@dataclass
class Decision:
    latency_s: float = 0.0
    error: ChaosRule | None = None


@dataclass
class RuleSet:
    """The proxy's rules and effects; thread-safe (the control API and the proxy share it)."""

    seed: int = 0
    rules: list[ChaosRule] = field(default_factory=list)
    effects: dict[str, Any] = field(default_factory=lambda: {"latency": 0})
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _effects_rng: random.Random = field(default_factory=random.Random)

    def parse(self, body: Any) -> list[ChaosRule]:
        if not isinstance(body, list):
            raise FaultDefinitionError("the chaos faults body must be a JSON array of rules")
        return [parse_rule(rule, f"{self.seed}") for rule in body]

    def replace(self, body: Any) -> None:
        rules = self.parse(body)
        with self._lock:
            self.rules = rules

    def extend(self, body: Any) -> None:
        rules = self.parse(body)
        with self._lock:
            self.rules = [r for r in self.rules if not _same_name(r, rules)] + rules

    def remove(self, body: Any) -> None:
        """Delete the rules equal to the given ones (LocalStack), or with the given ``name`` (extension)."""
        if not isinstance(body, list):
            raise FaultDefinitionError("the chaos faults body must be a JSON array of rules")
        wanted = [_canonical(r) for r in body if isinstance(r, dict)]
        names = {r["name"] for r in body if isinstance(r, dict) and set(r) == {"name"}}
        with self._lock:
            self.rules = [r for r in self.rules if _canonical(r.raw) not in wanted and r.raw.get("name") not in names]

    def listing(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r.raw) for r in self.rules]

    def stats(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"rule": dict(r.raw), "matched": r.matched, "fired": r.fired} for r in self.rules]

    def set_effects(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise FaultDefinitionError("the chaos effects body must be an object {\"latency\": ms}")
        latency = body.get("latency", 0)
        if isinstance(latency, bool) or not isinstance(latency, (int, float)) or latency < 0:
            raise FaultDefinitionError(f"effects 'latency' must be a number of milliseconds >= 0, got {latency!r}")
        with self._lock:
            self.effects = {**body, "latency": latency}

    def decide(self, service: str | None, operation: str | None, region: str | None) -> Decision:
        decision = Decision(latency_s=float(self.effects.get("latency", 0)) / 1000.0)
        if not self.rules:
            return decision
        with self._lock:
            for rule in self.rules:
                if not rule.matches(service, operation, region) or not rule.draw():
                    continue
                if rule.latency_ms or rule.jitter_ms:
                    jitter = rule.rng.uniform(0, rule.jitter_ms) if rule.jitter_ms else 0.0
                    decision.latency_s += (rule.latency_ms + jitter) / 1000.0
                if rule.status is not None:
                    decision.error = rule
                    break
        return decision


def _same_name(rule: ChaosRule, new: list[ChaosRule]) -> bool:
    name = rule.raw.get("name")
    return name is not None and any(n.raw.get("name") == name for n in new)
