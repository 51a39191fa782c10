"""Route 53 failover routing as pure state machines (unit-tested without processes).

- :class:`HealthCheck`: one endpoint's health as Route 53 judges it: checked every ``interval_s``; a healthy
  endpoint becomes unhealthy after ``failure_threshold`` consecutive failed checks, an unhealthy one healthy again
  after as many consecutive successes (Route 53's defaults: 30 s, 3).
- :class:`FailoverRecord`: a PRIMARY and a SECONDARY record of one name. The answer is the primary while it is
  healthy, else the secondary when it is healthy (both unhealthy: the primary, as Route 53 does). Failback is
  ``automatic`` (000 §5: traffic returns when the primary's checks pass) or ``manual`` (001/004 Runbook 2: "Do not
  fail back automatically": traffic stays on the secondary until an operator fails back). Clients keep the answer
  they resolved for ``ttl_s`` (resolver caches), so a change reaches them ``ttl_s`` later.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Failback = Literal["automatic", "manual"]
DEFAULT_INTERVAL_S = 30.0
DEFAULT_FAILURE_THRESHOLD = 3
DEFAULT_TTL_S = 60.0


@dataclass
class HealthCheck:
    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD
    healthy: bool = True
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    checks: int = 0

    def observe(self, ok: bool) -> bool | None:
        """Record one check; returns the new health when it changed, else None."""
        self.checks += 1
        if ok:
            self.consecutive_successes += 1
            self.consecutive_failures = 0
            if not self.healthy and self.consecutive_successes >= self.failure_threshold:
                self.healthy = True
                return True
        else:
            self.consecutive_failures += 1
            self.consecutive_successes = 0
            if self.healthy and self.consecutive_failures >= self.failure_threshold:
                self.healthy = False
                return False
        return None


@dataclass
class Answer:
    target: str        # "primary" or "secondary"
    since: float       # when the record started answering it
    previous: str      # what clients resolved before (they keep it until since + ttl)


@dataclass
class FailoverRecord:
    failback: Failback = "manual"
    ttl_s: float = DEFAULT_TTL_S
    answer: Answer = field(default_factory=lambda: Answer("primary", 0.0, "primary"))
    failed_over: bool = False      # manual failback: stays on the secondary until failback_now()

    def decide(self, primary_healthy: bool, secondary_healthy: bool, now: float) -> str | None:
        """Re-evaluate after a health change; returns "failover"/"failback" when the answer changed."""
        current = self.answer.target
        if current == "primary" and not primary_healthy and secondary_healthy:
            self.failed_over = True
            return self._switch("secondary", now, "failover")
        if current == "secondary":
            back = primary_healthy and (self.failback == "automatic" or not self.failed_over)
            if back or (not secondary_healthy and primary_healthy):
                self.failed_over = False
                return self._switch("primary", now, "failback")
        return None

    def failback_now(self, primary_healthy: bool, now: float) -> str | None:
        """The operator's failback (manual policy): back to the primary if its checks pass."""
        self.failed_over = False
        if self.answer.target == "secondary" and primary_healthy:
            return self._switch("primary", now, "failback")
        return None

    def client_target(self, now: float) -> str:
        """Where a client sends a request now: the new answer once the old one expired from caches."""
        return self.answer.target if now >= self.answer.since + self.ttl_s else self.answer.previous

    def _switch(self, target: str, now: float, kind: str) -> str:
        self.answer = Answer(target, now, self.client_target(now))
        return kind
