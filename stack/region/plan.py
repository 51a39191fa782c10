"""A region-outage rehearsal plan: the YAML file (scenarios/chaos/gamedays/region-outage.yaml) and its short form.

    name: region-outage
    kind: region-outage
    load: {model: nominal, dau: 10000, compress: 24, users: 40, locust_users: 100}
    timeline: {nominal_s: 60, outage_s: 300, after_s: 180, drain_s: 120}
    region: {replication_lag_s: 1.0, check_interval_s: 30, failure_threshold: 3, check_timeout_s: 4,
             dns_ttl_s: 60, failback: manual, check_path: /health}
    fault: {name: primary-region-down, type: region_outage, target: {region: primary}}
    short: {dau: 2000, compress: 144, users: 10, locust_users: 50, nominal_s: 6, outage_s: 8, after_s: 5,
            drain_s: 30, check_interval_s: 0.5, check_timeout_s: 0.5, dns_ttl_s: 1}

``load``: the traffic model (``swsim load``'s models: nominal, ...) at ``dau`` daily active users, its day played
``compress`` times faster, mapped onto ``users`` seeded users (light ones, valid in both regions), fired by
``locust_users`` Locust users (the engine's pool of request slots); optional ``kinds``: only these of the model's
request kinds (e.g. ``[POST /v1/sync-jobs]`` for a dense stream of writes), default the whole mix.

``short`` overrides any key of ``load``, ``timeline`` and ``region``. Mistakes are :class:`sim.errors.UsageError`
naming the file and the key.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from sim.errors import UsageError
from sim.models import get_model
from sim.schedule import KIND_SCHEDULED_SYNC, kinds_per_user_day
from stack.faults import FaultDefinitionError, build_fault
from stack.region.pair import RegionOptions

KIND = "region-outage"
LOAD_KEYS = {"model", "dau", "compress", "users", "locust_users", "kinds"}
TIMELINE_KEYS = {"nominal_s", "outage_s", "after_s", "drain_s"}
REGION_KEYS = {f.name for f in dataclasses.fields(RegionOptions)}
TOP_KEYS = {"name", "kind", "title", "description", "load", "timeline", "region", "fault", "short", "seed"}
DEFAULT_FAULT: Mapping[str, Any] = {"name": "primary-region-down", "type": "region_outage",
                                    "target": {"region": "primary"}}


@dataclass(frozen=True)
class RehearsalPlan:
    name: str = "region-outage"
    title: str = "Primary region outage: failover to the DR region and back"
    model: str = "nominal"           # the traffic model replayed through the router
    dau: int = 2000
    compress: float = 144.0          # simulated seconds per wall second
    users: int = 10                  # seeded users the model's DAU map onto
    locust_users: int = 50           # the load engine's pool of request slots
    kinds: tuple[str, ...] = ()      # only these of the model's request kinds (empty: the whole mix)
    nominal_s: float = 8.0           # load before the region dies
    outage_s: float = 10.0           # how long it stays dead
    after_s: float = 6.0             # load after it is back (failback)
    drain_s: float = 30.0            # at most this long after the load for replication and stranded jobs
    region: RegionOptions = field(default_factory=RegionOptions)
    fault: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_FAULT))
    seed: int = 1
    short: bool = False
    source: str = ""

    def with_overrides(self, **overrides: Any) -> "RehearsalPlan":
        """Plan keys and RegionOptions keys (e.g. ``replication_lag_s=2``) in one call."""
        region_keys = {k: v for k, v in overrides.items() if k in REGION_KEYS}
        plan_keys = {k: v for k, v in overrides.items() if k not in REGION_KEYS}
        return dataclasses.replace(self, region=dataclasses.replace(self.region, **region_keys), **plan_keys)

    @property
    def time_scale(self) -> float:
        """How much faster than Route 53's defaults the health checks run (30 s / interval)."""
        return 30.0 / self.region.check_interval_s


def load_plan(path: Path, short: bool = False) -> RehearsalPlan:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {exc}") from exc
    return plan_from_mapping(data, str(path), short)


def plan_from_mapping(data: Any, source: str, short: bool = False) -> RehearsalPlan:
    if not isinstance(data, dict):
        raise UsageError(f"{source}: a region rehearsal file is a mapping with {sorted(TOP_KEYS)}")
    _only(data, TOP_KEYS, source, "top level")
    if data.get("kind", KIND) != KIND:
        raise UsageError(f"{source}: kind must be {KIND!r}, got {data.get('kind')!r}")
    values: dict[str, Any] = {}
    for section, keys in (("load", LOAD_KEYS), ("timeline", TIMELINE_KEYS), ("region", REGION_KEYS)):
        part = data.get(section) or {}
        if not isinstance(part, dict):
            raise UsageError(f"{source}: {section} must be a mapping")
        _only(part, keys, source, section)
        values.update(part)
    if short:
        part = data.get("short") or {}
        if not isinstance(part, dict):
            raise UsageError(f"{source}: short must be a mapping")
        _only(part, LOAD_KEYS | TIMELINE_KEYS | REGION_KEYS, source, "short")
        values.update(part)
    fault = data.get("fault") or dict(DEFAULT_FAULT)
    try:
        build_fault(fault)
    except FaultDefinitionError as exc:
        raise UsageError(f"{source}: fault: {exc}") from exc
    base = RehearsalPlan(name=str(data.get("name", "region-outage")), title=str(data.get("title", RehearsalPlan.title)),
                         fault=fault, seed=int(data.get("seed", 1)), short=short, source=source)
    if "kinds" in values:
        kinds = values["kinds"]
        if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
            raise UsageError(f"{source}: load.kinds must be a list of request kinds, e.g. ['POST /v1/sync-jobs']")
        values["kinds"] = tuple(kinds)
    try:
        plan = base.with_overrides(**values)
        _check(plan, source)
    except TypeError as exc:  # e.g. a string where a number belongs
        raise UsageError(f"{source}: {exc}") from exc
    return plan


def _only(part: Mapping[str, Any], allowed: set[str], source: str, where: str) -> None:
    unknown = set(part) - allowed
    if unknown:
        raise UsageError(f"{source}: unknown key(s) {sorted(unknown)} in {where}; allowed: {sorted(allowed)}")


def _check(plan: RehearsalPlan, source: str) -> None:
    r = plan.region
    if r.check_interval_s <= 0 or r.failure_threshold < 1 or r.dns_ttl_s < 0 or r.replication_lag_s < 0:
        raise UsageError(f"{source}: region: check_interval_s > 0, failure_threshold >= 1, dns_ttl_s >= 0 and "
                         f"replication_lag_s >= 0 are required")
    if not isinstance(r.check_path, str) or not r.check_path.startswith("/"):
        raise UsageError(f"{source}: region.check_path must be a path starting with /, e.g. /health or "
                         f"/health/deep; got {r.check_path!r}")
    if r.failback not in ("manual", "automatic"):
        raise UsageError(f"{source}: region.failback must be 'manual' or 'automatic', got {r.failback!r}")
    if plan.users < 1 or plan.dau < 1 or plan.compress <= 0 or plan.locust_users < 1:
        raise UsageError(f"{source}: load: users >= 1, dau >= 1, compress > 0 and locust_users >= 1 are required")
    if min(plan.nominal_s, plan.outage_s, plan.after_s) <= 0:
        raise UsageError(f"{source}: timeline: positive nominal_s, outage_s and after_s are required")
    try:
        model = get_model(plan.model)
    except UsageError as exc:
        raise UsageError(f"{source}: load: {exc}") from exc
    known = {spec.kind for spec in kinds_per_user_day(model)} - {KIND_SCHEDULED_SYNC}  # the backend's own
    if set(plan.kinds) - known:
        raise UsageError(f"{source}: load: unknown kind(s) {sorted(set(plan.kinds) - known)}; the {plan.model} model "
                         f"has {sorted(known)}")
