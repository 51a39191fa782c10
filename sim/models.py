"""Traffic models: the Conservative / Nominal / Aggressive scenarios of seed 004 §2, loaded from data.

A ``TrafficModel`` is the nine numbers of the seed's "Traffic & Load Scenarios" table. Everything derived
from it (RPS, QPS, egress, cost) lives in ``sim.capacity`` and ``sim.cost``; this module only knows how to
read, validate and vary the parameters.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

import yaml

from sim.errors import UsageError

DATA_PACKAGE = "sim.data"
MODELS_FILE = "traffic_models.yaml"

# The tunable parameters, in the seed table's order. DAU is a scale, not a behaviour, so it is kept apart.
PARAMETER_NAMES: tuple[str, ...] = (
    "sessions_per_user_per_day",
    "requests_per_session",
    "syncs_per_user_per_day",
    "write_read_ratio",
    "peak_to_average",
    "light_payload_kb",
    "heavy_payload_kb",
    "heavy_share",
)

PARAMETER_LABELS: dict[str, str] = {
    "sessions_per_user_per_day": "sessions / user / day",
    "requests_per_session": "API requests / session",
    "syncs_per_user_per_day": "hot-path syncs / user / day",
    "write_read_ratio": "DB write / read ratio",
    "peak_to_average": "peak-to-average ratio",
    "light_payload_kb": "light payload (KB)",
    "heavy_payload_kb": "heavy payload (KB)",
    "heavy_share": "heavy payload share",
}


@dataclass(frozen=True)
class TrafficModel:
    """One traffic scenario. Ratios are stored as floats (writes per read, peak over average)."""

    name: str
    dau: int
    sessions_per_user_per_day: float
    requests_per_session: float
    syncs_per_user_per_day: float
    write_read_ratio: float
    peak_to_average: float
    light_payload_kb: float
    heavy_payload_kb: float
    heavy_share: float

    def __post_init__(self) -> None:
        if self.dau < 0:
            raise UsageError(f"model {self.name!r}: dau must be >= 0, got {self.dau}")
        for name in PARAMETER_NAMES:
            value = getattr(self, name)
            if not value >= 0:  # also rejects NaN
                raise UsageError(f"model {self.name!r}: {name} must be >= 0, got {value}")
        if self.peak_to_average < 1:
            raise UsageError(f"model {self.name!r}: peak_to_average must be >= 1, got {self.peak_to_average}")
        if self.heavy_share > 1:
            raise UsageError(f"model {self.name!r}: heavy_share is a fraction in [0, 1], got {self.heavy_share}")

    def with_overrides(self, name: str | None = None, **overrides: float) -> "TrafficModel":
        """A copy with some parameters replaced (``dau`` included); unknown names are a usage error."""
        known = set(PARAMETER_NAMES) | {"dau"}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise UsageError(f"unknown model parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = dict(overrides)
        if "dau" in values:
            values["dau"] = int(values["dau"])
        return dataclasses.replace(self, name=name or self.name, **values)

    def parameters(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in PARAMETER_NAMES}


def parse_ratio(text: str | float | int, what: str = "ratio") -> float:
    """'1:2' -> 0.5, '5:1' -> 5.0; plain numbers pass through. The seeds print ratios as 'a:b'."""
    if isinstance(text, (int, float)):
        return float(text)
    parts = str(text).split(":")
    try:
        if len(parts) == 1:
            return float(parts[0])
        if len(parts) == 2:
            numerator, denominator = float(parts[0]), float(parts[1])
            return numerator / denominator
    except (ValueError, ZeroDivisionError) as exc:
        raise UsageError(f"{what}: cannot read {text!r} as a ratio like '5:1'") from exc
    raise UsageError(f"{what}: cannot read {text!r} as a ratio like '5:1'")


def parse_parameter_assignments(pairs: list[str] | tuple[str, ...], what: str) -> dict[str, float]:
    """['heavy_share=0.4', 'peak_to_average=6:1'] -> {'heavy_share': 0.4, 'peak_to_average': 6.0} (CLI flags)."""
    values: dict[str, float] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"{what} expects PARAM=VALUE, got {pair!r}")
        if name not in PARAMETER_NAMES and name != "dau":
            raise UsageError(f"{what}: unknown parameter {name!r}; known: {', '.join(PARAMETER_NAMES)}, dau")
        values[name] = parse_ratio(text.strip(), f"{what} {name}")
    return values


def format_ratio(value: float) -> str:
    """0.5 -> '1:2', 5.0 -> '5:1', 1.37 -> '1.37:1' (how the seeds print ratios)."""
    if value >= 1:
        return f"{value:.3g}:1"
    return f"1:{1 / value:.3g}" if value > 0 else "0:1"


def _model_from_mapping(name: str, raw: Mapping[str, Any]) -> TrafficModel:
    try:
        return TrafficModel(
            name=name,
            dau=int(raw["dau"]),
            sessions_per_user_per_day=float(raw["sessions_per_user_per_day"]),
            requests_per_session=float(raw["requests_per_session"]),
            syncs_per_user_per_day=float(raw["syncs_per_user_per_day"]),
            write_read_ratio=parse_ratio(raw["write_read_ratio"], f"{name}.write_read_ratio"),
            peak_to_average=parse_ratio(raw["peak_to_average"], f"{name}.peak_to_average"),
            light_payload_kb=float(raw["light_payload_kb"]),
            heavy_payload_kb=float(raw["heavy_payload_kb"]),
            heavy_share=float(raw["heavy_share"]),
        )
    except KeyError as exc:
        raise UsageError(f"traffic model {name!r} is missing {exc.args[0]!r}") from exc


def load_data_file(filename: str) -> dict[str, Any]:
    """Read one YAML file shipped in ``sim/data``."""
    text = resources.files(DATA_PACKAGE).joinpath(filename).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise UsageError(f"sim/data/{filename}: expected a mapping at the top level")
    return data


@lru_cache(maxsize=1)
def load_models() -> dict[str, TrafficModel]:
    """All scenarios of ``sim/data/traffic_models.yaml``, by lower-case name, in file order."""
    data = load_data_file(MODELS_FILE)
    return {name: _model_from_mapping(name, raw) for name, raw in data["scenarios"].items()}


def model_names() -> list[str]:
    return list(load_models())


def get_model(name: str, dau: int | None = None) -> TrafficModel:
    """The named scenario (case-insensitive), optionally at another DAU."""
    models = load_models()
    key = name.strip().lower()
    if key not in models:
        raise UsageError(f"unknown traffic model {name!r}; choose one of: {', '.join(models)}")
    model = models[key]
    return model.with_overrides(dau=dau) if dau is not None else model


@lru_cache(maxsize=1)
def seed_stated_figures() -> dict[str, dict[str, float]]:
    """The figures the seeds print for each scenario (for 'seed says' columns; never used in computation)."""
    data = load_data_file(MODELS_FILE)
    return {name: {k: float(v) for k, v in figures.items()} for name, figures in data.get("seed_stated", {}).items()}
