"""Time series a caller measures beside the load (queue depth, DLQ depth...), charted in report.html."""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

Point = tuple[float, float]  # (seconds since the run's t0, value)
SeriesMap = Mapping[str, Sequence[Point]]


def normalize_series(series: Mapping[str, Iterable[Sequence[float]]] | None) -> dict[str, list[Point]]:
    """Sorted (t, value) float pairs per name; raises ValueError naming the series on a malformed point."""
    normalized: dict[str, list[Point]] = {}
    for name, points in (series or {}).items():
        clean: list[Point] = []
        for point in points:
            try:
                t, value = point
                clean.append((float(t), float(value)))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"series {name!r}: point {point!r} is not (t_seconds, value)") from exc
        normalized[str(name)] = sorted(clean)
    return normalized
