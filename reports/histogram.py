"""HDR histogram conventions shared by every recorder: units, ranges, precision, wire encoding.

Latencies are stored in integer microseconds from 1 us to 1 hour. Whole-run histograms keep 3 significant
digits (0.1 % resolution); per-window histograms keep 2 (1 %) because a long run has hundreds of windows per
endpoint and a 3-digit histogram of this range costs ~190 KB of counts.
"""
from __future__ import annotations

from typing import TypedDict

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
RUN_DIGITS = 3
WINDOW_DIGITS = 2
SUMMARY_PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p90", 90.0),
    ("p95", 95.0),
    ("p99", 99.0),
    ("p999", 99.9),
)


class LatencySummary(TypedDict):
    """Percentiles of one histogram, in milliseconds (None when the histogram is empty)."""

    count: int
    mean: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    p999: float | None
    max: float | None


def new_run_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, RUN_DIGITS)


def new_window_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, WINDOW_DIGITS)


def seconds_to_us(seconds: float) -> int:
    """Clamp into the trackable range: a negative or zero latency (clock granularity) counts as 1 us."""
    return min(HIGHEST_US, max(LOWEST_US, int(round(seconds * 1_000_000))))


def encode(histogram: HdrHistogram) -> str:
    """Compressed, base64 text (the HdrHistogram interchange format), safe for JSON and msgpack."""
    return histogram.encode().decode("ascii")


def decode(text: str) -> HdrHistogram:
    return HdrHistogram.decode(text.encode("ascii"))


def merge_into(target: HdrHistogram, source: HdrHistogram) -> None:
    """Exact merge: counts add bucket by bucket, so merged percentiles equal those of the union of samples."""
    if source.get_total_count():
        target.add(source)


def percentile_ms(histogram: HdrHistogram, percentile: float) -> float | None:
    if histogram.get_total_count() == 0:
        return None
    return histogram.get_value_at_percentile(percentile) / 1000.0


def summarize(histogram: HdrHistogram) -> LatencySummary:
    count = histogram.get_total_count()
    if count == 0:
        return LatencySummary(count=0, mean=None, p50=None, p90=None, p95=None, p99=None, p999=None, max=None)
    values = histogram.get_percentile_to_value_dict([q for _, q in SUMMARY_PERCENTILES])
    by_label = {label: round(values[q] / 1000.0, 3) for label, q in SUMMARY_PERCENTILES}
    return LatencySummary(
        count=count,
        mean=round(histogram.get_mean_value() / 1000.0, 3),
        p50=by_label["p50"],
        p90=by_label["p90"],
        p95=by_label["p95"],
        p99=by_label["p99"],
        p999=by_label["p999"],
        max=round(histogram.get_max_value() / 1000.0, 3),
    )
