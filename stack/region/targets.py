"""The seeds' recovery targets, quoted, and how a measured figure compares with each."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SeedTarget:
    seed: str
    metric: str          # "rto" or "rpo"
    limit_s: float | None
    quote: str

    def judge(self, value_s: float | None) -> dict[str, Any]:
        holds = None if value_s is None or self.limit_s is None else value_s < self.limit_s
        return {"seed": self.seed, "metric": self.metric, "limit_s": self.limit_s, "quote": self.quote,
                "value_s": value_s, "holds": holds}


TARGETS: tuple[SeedTarget, ...] = (
    SeedTarget("000", "rto", 15 * 60, "RTO < 15 minutes: detect a regional failure and re-route all user traffic"),
    SeedTarget("001", "rto", 4 * 3600, "RTO < 4 hours (§3b RTO/RPO Targets & DR Strategy; NFR table P1)"),
    SeedTarget("003", "rto", 5 * 60, "RTO < 5 minutes; breakdown: health check failure 90 s + DNS failover 60 s "
                                     "+ promotion 60 s + serving 30 s = ~4 minutes"),
    SeedTarget("004", "rto", 4 * 3600, "RTO < 4 hours (§4 RTO/RPO Targets & DR Strategy)"),
    SeedTarget("000", "rpo", 1.0, "RPO < 1 second: Global Tables replicate continuously, near-zero loss"),
    SeedTarget("001", "rpo", 15 * 60, "RPO < 15 minutes (PITR and Global Table replication lag)"),
    SeedTarget("003", "rpo", 1.0, "RPO < 1 second (Aurora Global Database)"),
    SeedTarget("004", "rpo", 5 * 60, "RPO < 5 minutes (PITR and Global Table replication lag)"),
)
FAILBACK_POLICIES = {
    "000": ("automatic", "Route 53 will automatically resume sending traffic to it (§5 Failback)"),
    "001": ("manual", "plan a maintenance window to fail back traffic (Runbook 2, step 5)"),
    "002": ("manual", "Step Functions orchestrate failover and failback workflows (no figures)"),
    "004": ("manual", "Do not fail back automatically (Runbook 2, step 5)"),
}
SEED_003_PHASES_S = {"detection": 90.0, "dns": 60.0, "promotion": 60.0, "serving": 30.0}


def compare(rto_s: float | None, rpo_window_s: float | None) -> list[dict[str, Any]]:
    """Every seed target judged against the figure it bounds."""
    return [t.judge(rto_s if t.metric == "rto" else rpo_window_s) for t in TARGETS]
