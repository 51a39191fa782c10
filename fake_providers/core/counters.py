"""What the harness can read from outside: calls per route and user, statuses, bytes served, every write received
(with its payload identity), webhook deliveries and fault firings."""
from __future__ import annotations

from collections import Counter, defaultdict, deque
from typing import Any


class Counters:
    def __init__(self, webhook_log: int = 10000) -> None:
        self._webhook_log = webhook_log
        self.reset()

    def reset(self) -> None:
        self.calls: dict[str, Counter] = defaultdict(Counter)   # route -> user -> n
        self.route_totals: Counter = Counter()
        self.statuses: Counter = Counter()
        self.route_statuses: dict[str, Counter] = defaultdict(Counter)
        self.bytes_sent = 0
        self.bytes_by_route: Counter = Counter()
        self.requests = 0
        self.writes: list[dict] = []
        self.faults_fired: Counter = Counter()
        self.webhooks: deque = deque(maxlen=self._webhook_log)
        self.webhook_totals: Counter = Counter()

    def record(self, route: str, user: str | None, status: int, nbytes: int) -> None:
        self.requests += 1
        self.calls[route][user or "-"] += 1
        self.route_totals[route] += 1
        self.statuses[status] += 1
        self.route_statuses[route][status] += 1
        self.bytes_sent += nbytes
        self.bytes_by_route[route] += nbytes

    def record_write(self, entry: dict) -> None:
        self.writes.append(entry)

    def record_webhook(self, entry: dict) -> None:
        self.webhooks.append(entry)
        self.webhook_totals[entry.get("outcome", "?")] += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "calls": {r: dict(c) for r, c in self.calls.items()},
            "calls_by_route": dict(self.route_totals),
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "statuses_by_route": {r: {str(k): v for k, v in c.items()} for r, c in self.route_statuses.items()},
            "bytes_sent": self.bytes_sent,
            "bytes_by_route": dict(self.bytes_by_route),
            "writes": len(self.writes),
            "faults_fired": dict(self.faults_fired),
            "webhooks": dict(self.webhook_totals),
        }
