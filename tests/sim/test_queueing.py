"""Behaviour of the hot-path queueing simulator: conservation, the DLQ rule, refusals, Lambda scaling, seeds."""
from __future__ import annotations

import math

import numpy as np
import pytest

from sim.queueing import (
    TRAFFIC_MODELS,
    ArrivalProfile,
    FixedPool,
    LambdaScaling,
    ProviderBucket,
    QueueSimConfig,
    QueueSimResult,
    ServiceTime,
    diurnal_profile,
    poisson_arrivals,
    simulate,
    simulate_simpy,
)

ENGINES = [pytest.param(simulate, id="fast"), pytest.param(simulate_simpy, id="simpy")]
UNLIMITED = (ProviderBucket("any", 1.0, math.inf, 1.0),)
TIGHT = (ProviderBucket("tight", 0.6, 20.0, 10.0), ProviderBucket("free", 0.4, math.inf, 1.0))
BURST = ArrivalProfile(np.array([10.0, 80.0, 80.0, 10.0]), 30.0)


def outcome_counts(result: QueueSimResult) -> tuple[int, int, int]:
    arrived = result.outcome[: result.n_arrived]
    return int(np.sum(arrived == 1)), int(np.sum(arrived == 2)), int(np.sum(arrived == 0))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("horizon", [None, 75.0])
def test_every_arrival_is_succeeded_dead_lettered_or_in_flight(engine, horizon) -> None:
    config = QueueSimConfig(
        pool=FixedPool(6),
        providers=TIGHT,
        non_transient_failure_prob=0.03,
        transient_failure_prob=0.05,
        visibility_timeout_s=5.0,
        horizon_s=horizon,
        seed=5,
    )
    result = engine(config, BURST)
    assert result.n_arrived == result.succeeded + result.dead_lettered + result.in_flight_at_end
    # The in-flight figure comes from the queue state (waiting, delayed, running), not from the subtraction.
    assert result.in_flight_at_end == sum(result.in_flight_breakdown.values())
    assert outcome_counts(result) == (result.succeeded, result.dead_lettered, result.in_flight_at_end)
    if horizon is None:
        assert result.in_flight_at_end == 0
    else:
        assert result.in_flight_at_end > 0  # the burst cannot be served in 75 s by 6 workers
        assert np.all(result.end_to_end_s[result.outcome == 1] + result.arrivals[result.outcome == 1] <= horizon + 1e-6)


@pytest.mark.parametrize("engine", ENGINES)
def test_non_transient_failure_dead_letters_after_exactly_five_receives(engine) -> None:
    config = QueueSimConfig(pool=FixedPool(4), providers=UNLIMITED, non_transient_failure_prob=0.05, visibility_timeout_s=2.0, seed=2)
    result = engine(config, np.linspace(0.0, 100.0, 2000))
    dead = result.outcome == 2
    assert 60 <= dead.sum() <= 140  # ~5 % of 2,000
    assert np.all(result.receives_per_job[dead] == 5)
    assert np.all(result.receives_per_job[result.outcome == 1] == 1)
    assert result.failed_receives == 5 * dead.sum()


@pytest.mark.parametrize("engine", ENGINES)
def test_token_bucket_refusals_never_dead_letter_a_job(engine) -> None:
    config = QueueSimConfig(pool=FixedPool(8), providers=TIGHT, backoff_base_s=0.2, backoff_cap_s=5.0, seed=3)
    result = engine(config, BURST)
    assert result.refusals > 5 * result.n_arrived * 0.6 * 0.2  # the tight provider is refused over and over
    assert result.receives_per_job.max() > config.max_receive_count  # jobs went past 5 receives...
    assert result.dead_lettered == 0  # ...and none of them was dead-lettered for it
    assert result.succeeded == result.n_arrived


def test_change_visibility_requeue_shows_refusals_counting_toward_the_dlq() -> None:
    """The literal ChangeMessageVisibility design: SQS counts every receive, so refusals alone reach the DLQ."""
    config = QueueSimConfig(pool=FixedPool(8), providers=TIGHT, backoff_base_s=0.2, backoff_cap_s=5.0, refusal_requeue="change_visibility", seed=3)
    result = simulate(config, BURST)
    assert result.dead_lettered_by_refusal > 0
    assert result.dead_lettered == result.dead_lettered_by_refusal  # no job ever failed
    assert np.all(result.receives_per_job[result.outcome == 2] == config.max_receive_count)


def test_refused_jobs_back_off_with_full_jitter_before_reappearing() -> None:
    # One token for the whole run: the first job gets it, the second is refused on every receive until the
    # horizon. Its receive times follow sleep = U(0, min(cap, base * 2**attempt)), so the count is bounded.
    config = QueueSimConfig(
        pool=FixedPool(1), providers=(ProviderBucket("one", 1.0, 1e-9, 1.0),), backoff_base_s=1.0, backoff_cap_s=8.0,
        horizon_s=200.0, seed=1,
    )
    result = simulate(config, np.array([0.0, 0.0]))
    refused = result.receives_per_job[1]
    # Mean gaps 0.5, 1, 2, 4, then 4 s each: about 200/4 + 4 receives; never more than the gap-free worst case.
    assert 20 <= refused <= 120
    assert result.dead_lettered == 0 and result.refusals == refused


@pytest.mark.parametrize("engine", ENGINES)
def test_lambda_scaling_ramps_by_300_per_minute_from_5(engine) -> None:
    # 30,000 jobs at once, 1 s each: the backlog lasts the whole first minute.
    config = QueueSimConfig(
        pool=LambdaScaling(max_concurrency=1000), service=ServiceTime.empirical(np.array([1000.0])),
        batch_size=1, providers=UNLIMITED, horizon_s=90.5, sample_interval_s=1.0,
    )
    result = engine(config, np.zeros(30_000))
    series = result.series
    at = {int(round(t)): i for i, t in enumerate(series.time_s)}
    assert series.concurrency_limit[at[1]] == pytest.approx(10)  # 5 to start with, +5 after the first second
    assert series.concurrency_limit[at[60]] == pytest.approx(305)  # 5 + 300 in one minute
    assert series.concurrency[at[60]] <= 305
    assert series.concurrency_max[at[60]] >= 300  # the slots were actually used
    assert result.max_concurrency_limit == pytest.approx(455)  # still ramping at 90 s: 5 + 90 * 5


def test_lambda_scaling_stops_at_max_concurrency_and_scales_back_when_idle() -> None:
    config = QueueSimConfig(
        pool=LambdaScaling(max_concurrency=50), service=ServiceTime.empirical(np.array([200.0])),
        batch_size=10, providers=UNLIMITED, sample_interval_s=1.0,
    )
    # 500 jobs/s for 60 s against 50 slots * 10 jobs / 2 s per batch = 250 jobs/s, then one job a second.
    arrivals = np.concatenate([np.linspace(0, 60, 30_000), np.arange(61.5, 400.0)])  # off the 1 s ticks
    result = simulate(config, arrivals)
    assert result.max_concurrency_limit == 50
    assert result.max_concurrency == 50
    assert result.series.concurrency_limit[-1] == pytest.approx(5)


def test_fixed_pool_never_exceeds_its_size() -> None:
    result = simulate(QueueSimConfig(pool=FixedPool(7), providers=UNLIMITED), BURST)
    assert result.max_concurrency == 7
    assert np.all(result.series.concurrency_max <= 7)
    assert result.max_queue_depth > 100  # 7 workers cannot keep up with the burst


def test_mean_wait_matches_pollaczek_khinchine_for_one_worker_and_single_job_batches() -> None:
    # M/G/1: W = lambda * E[S^2] / (2 (1 - rho)), with a lognormal S.
    service = ServiceTime(median_ms=100.0, p95_ms=200.0)
    rate = 5.0
    second_moment = math.exp(2 * service.mu + 2 * service.sigma**2)
    rho = rate * service.mean_s
    expected = rate * second_moment / (2 * (1 - rho))
    config = QueueSimConfig(pool=FixedPool(1), batch_size=1, service=service, providers=UNLIMITED, seed=9)
    result = simulate(config, ArrivalProfile(np.array([rate]), 40_000.0))
    assert result.to_summary()["wait"]["mean_s"] == pytest.approx(expected, rel=0.06)


def test_same_seed_same_result_and_another_seed_differs() -> None:
    config = QueueSimConfig(pool=LambdaScaling(max_concurrency=20), providers=TIGHT, transient_failure_prob=0.05, seed=21)
    first, second = simulate(config, BURST), simulate(config, BURST)
    summary_a, summary_b = first.to_summary(), second.to_summary()
    summary_a.pop("wall_time_s")
    summary_b.pop("wall_time_s")
    assert summary_a == summary_b
    assert np.array_equal(first.end_to_end_s, second.end_to_end_s)
    assert np.array_equal(first.series.depth, second.series.depth)
    from dataclasses import replace

    other = simulate(replace(config, seed=22), BURST)
    assert not np.array_equal(first.arrivals, other.arrivals)


def test_lambda_cost_counts_billed_milliseconds_and_requests() -> None:
    config = QueueSimConfig(pool=FixedPool(1), service=ServiceTime.empirical(np.array([100.0])), providers=UNLIMITED)
    result = simulate(config, np.arange(0.0, 1000.0, 1.0))  # 1,000 single-job invocations of 100 ms
    cost = result.cost()
    assert cost["invocations"] == 1000
    assert cost["billed_gb_seconds"] == pytest.approx(100.0)  # 1,000 * 0.1 s * 1 GB (1024 MB, seed 004 §3)
    assert cost["compute_usd"] == pytest.approx(100.0 * 0.00001333)
    assert cost["requests_usd"] == pytest.approx(1000 / 1e6 * 0.20)


def test_poisson_arrivals_follow_the_profile() -> None:
    profile = ArrivalProfile(np.array([0.0, 100.0, 0.0, 300.0]), 10.0, start_s=50.0)
    times = poisson_arrivals(profile, seed=4)
    assert np.all(np.diff(times) >= 0)
    counts, _ = np.histogram(times, bins=[50, 60, 70, 80, 90])
    assert counts[0] == 0 and counts[2] == 0
    assert counts[1] == pytest.approx(1000, abs=4 * math.sqrt(1000))
    assert counts[3] == pytest.approx(3000, abs=4 * math.sqrt(3000))
    assert np.array_equal(times, poisson_arrivals(profile, seed=4))


@pytest.mark.parametrize("name, per_day, average, peak", [
    ("conservative", 5_000_000, 57.87, 173.6),
    ("nominal", 10_000_000, 115.74, 578.7),  # seed 004 §2: 10,000,000/day, ~116/s, ~580/s peak
    ("aggressive", 20_000_000, 231.48, 1851.9),
])
def test_traffic_models_reproduce_seed_004(name: str, per_day: int, average: float, peak: float) -> None:
    model = TRAFFIC_MODELS[name]
    profile = model.profile(1_000_000)
    assert model.syncs_per_day(1_000_000) == per_day
    assert profile.expected_count == pytest.approx(per_day, rel=1e-9)
    assert profile.rates.mean() == pytest.approx(average, abs=0.01)
    assert profile.rates.max() == pytest.approx(peak, abs=0.1)
    assert profile.rates.min() > 0


def test_diurnal_profile_cut_to_a_shorter_duration() -> None:
    profile = diurnal_profile(100.0, 5.0, bucket_s=300.0, duration_s=7200.0)
    assert profile.rates.size == 24 and profile.duration_s == 7200.0


def test_lognormal_fit_recovers_median_and_p95() -> None:
    rng = np.random.default_rng(0)
    truth = ServiceTime(median_ms=150.0, p95_ms=600.0)
    samples = rng.lognormal(math.log(150.0), truth.sigma, size=50_000)
    fitted = ServiceTime.fit_lognormal(samples)
    assert fitted.median_ms == pytest.approx(150.0, rel=0.02)
    assert fitted.p95_ms == pytest.approx(600.0, rel=0.03)


@pytest.mark.parametrize("bad", [
    dict(batch_size=0),
    dict(non_transient_failure_prob=1.5),
    dict(providers=()),
    dict(refusal_requeue="drop"),
])
def test_invalid_config_is_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        QueueSimConfig(**bad)
