"""Arrival schedules: the diurnal profile has the model's peak ratio, counts follow the rates, seeds repeat."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from sim.errors import UsageError
from sim.models import get_model
from sim.schedule import (
    KIND_DEVICE_UPLOAD,
    KIND_MANUAL_SYNC,
    KIND_SCHEDULED_SYNC,
    ArrivalEvent,
    build_rate_profile,
    diurnal_profile,
    generate_arrivals,
    kinds_per_user_day,
)


@pytest.mark.parametrize("name", ["conservative", "nominal", "aggressive"])
@pytest.mark.parametrize("buckets", [24, 96, 1440])
def test_profile_peak_to_average_is_the_models(name: str, buckets: int) -> None:
    model = get_model(name)
    multipliers = diurnal_profile(model.peak_to_average, buckets)
    assert multipliers.mean() == pytest.approx(1.0, rel=1e-12)
    assert multipliers.max() / multipliers.mean() == pytest.approx(model.peak_to_average, rel=1e-9)
    assert multipliers.min() > 0  # the night is quiet, not empty
    profile = build_rate_profile(model, dau=10_000, buckets_per_day=buckets)
    assert profile.peak_to_average() == pytest.approx(model.peak_to_average, rel=1e-9)


def test_unreachable_peak_ratio_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        diurnal_profile(30, 24)
    with pytest.raises(UsageError):
        diurnal_profile(0.5, 24)


def test_daily_kinds_add_up_to_the_model() -> None:
    model = get_model("nominal")
    specs = kinds_per_user_day(model)
    api = sum(s.per_user_per_day for s in specs if s.category == "api")
    assert api == pytest.approx(45)  # 3 sessions * 15 requests
    per_kind = {s.kind: s.per_user_per_day for s in specs}
    syncs = per_kind[KIND_MANUAL_SYNC] + per_kind[KIND_DEVICE_UPLOAD] + per_kind[KIND_SCHEDULED_SYNC]
    webhook_notifications = sum(s.per_user_per_day for s in specs if s.category == "webhook")
    assert syncs + webhook_notifications / 1.5 == pytest.approx(10)  # 10 syncs/user/day


def test_whole_day_compressed_matches_daily_totals() -> None:
    model = get_model("nominal")
    profile = build_rate_profile(model, dau=1_000, duration_s=3_600)  # one day in one hour
    assert profile.compression == pytest.approx(24)
    counts = profile.expected_counts()
    api = sum(n for kind, n, cat in zip(profile.kinds, counts.values(), profile.categories) if cat == "api")
    assert api == pytest.approx(45_000)
    assert float((profile.syncs_per_s * profile.segment_length_s).sum()) == pytest.approx(10_000)
    assert profile.segment_start_s[-1] + profile.segment_length_s[-1] == pytest.approx(3_600)


def test_window_of_the_day_at_a_compression() -> None:
    model = get_model("nominal")
    multipliers = diurnal_profile(model.peak_to_average, 24)
    peak_hour = int(multipliers.argmax())
    profile = build_rate_profile(model, dau=1_000, compression=1, duration_s=600, day_offset_s=peak_hour * 3600.0)
    total = profile.total_rate()
    assert len(total) == 1
    assert total[0] == pytest.approx(1_000 * (45 + 6 + 3) / 86_400 * model.peak_to_average)


def test_counts_per_kind_match_expected_rates() -> None:
    model = get_model("nominal")
    profile = build_rate_profile(model, dau=2_000, duration_s=600)
    events = list(generate_arrivals(profile, seed=7))
    expected = profile.expected_counts()
    observed = Counter(event.kind for event in events)
    assert KIND_SCHEDULED_SYNC not in observed
    for kind, mean in expected.items():
        if kind == KIND_SCHEDULED_SYNC:
            continue
        # Poisson: 5 standard deviations
        assert abs(observed[kind] - mean) <= 5 * np.sqrt(mean) + 1, kind
    times = [event.at_s for event in events]
    assert times == sorted(times)
    assert 0 <= times[0] and times[-1] <= 600
    assert all(0 <= event.user_index < 2_000 for event in events)


def test_events_follow_the_diurnal_shape() -> None:
    model = get_model("aggressive")
    profile = build_rate_profile(model, dau=500, duration_s=2_400, buckets_per_day=24)  # 100 s per hour
    events = list(generate_arrivals(profile, seed=3))
    per_hour = np.bincount([int(e.at_s // 100) for e in events], minlength=24)
    non_scheduled = profile.rates[:, [c != "scheduled" for c in profile.categories]].sum(axis=1) * 100
    assert non_scheduled.shape == per_hour.shape
    assert np.all(np.abs(per_hour - non_scheduled) <= 5 * np.sqrt(non_scheduled) + 1)


def test_payload_sizes_follow_the_models_mix() -> None:
    model = get_model("nominal")
    profile = build_rate_profile(model, dau=20_000, duration_s=300)
    syncs = [e for e in generate_arrivals(profile, seed=11, kinds=[KIND_MANUAL_SYNC, KIND_DEVICE_UPLOAD])]
    sizes = Counter(e.payload_bytes for e in syncs)
    assert set(sizes) == {5_000, 500_000}
    share = sizes[500_000] / len(syncs)
    n = len(syncs)
    assert abs(share - 0.10) <= 5 * np.sqrt(0.1 * 0.9 / n)
    small = build_rate_profile(model, dau=200, duration_s=300)
    gets = list(generate_arrivals(small, seed=11, kinds=["GET /v1/connections"]))
    assert gets and all(e.payload_bytes == 0 for e in gets)


def test_same_seed_same_events_and_different_seed_differs() -> None:
    profile = build_rate_profile(get_model("nominal"), dau=300, duration_s=900)
    first = list(generate_arrivals(profile, seed=42))
    again = list(generate_arrivals(profile, seed=42))
    other = list(generate_arrivals(profile, seed=43))
    assert first == again
    assert first != other
    assert isinstance(first[0], ArrivalEvent)


def test_scheduled_syncs_only_on_request() -> None:
    profile = build_rate_profile(get_model("nominal"), dau=300, duration_s=900)
    kinds = {e.kind for e in generate_arrivals(profile, seed=1, include_scheduled=True)}
    assert KIND_SCHEDULED_SYNC in kinds
    with pytest.raises(UsageError):
        list(generate_arrivals(profile, seed=1, kinds=["GET /nope"]))
