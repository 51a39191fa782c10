"""``swsim capacity validate``: the comparison logic on synthetic runs whose truth is known.

A synthetic run is built the way the stack records one: jobs with enqueue instants, batches completing at a
shared instant after a service time, a pool of pollers, and a queue depth series. When the recorded depth and
latencies are what such a system produces the command passes (exit 0); when the measurement says something the
model cannot produce from the same inputs (a backlog that never drains, latencies far beyond the service
times) it must fail (exit 1).
"""
from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim.cli import main
from sim.queueing.measured import JobRecord, WorkerPool, measured_from_records, reconstruct_service_times
from sim.queueing.validate import Tolerance, check_depth, check_percentile, validate_run

T0 = 1_700_000_000.0


def synthetic_jobs(n: int = 300, rate: float = 4.0, pollers: int = 4, seed: int = 3,
                   ) -> tuple[list[JobRecord], list[tuple[float, float]]]:
    """A pool of ``pollers`` taking one job at a time (arrivals sparse enough that batches hold one job),
    lognormal service ~150 ms; returns the job records and a queue-depth series sampled every 2 s."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / rate, n)) + 1.0
    service = rng.lognormal(np.log(0.13), 0.5, n)
    free = np.zeros(pollers)
    jobs, waiting_until = [], []
    for i, (at, s) in enumerate(zip(arrivals, service)):
        k = int(np.argmin(free))
        start = max(at, free[k])
        done = start + s
        free[k] = done
        waiting_until.append((at, start))
        jobs.append(JobRecord(f"j{i}", "api", "SUCCEEDED", T0 + at, T0 + done, 2))
    times = np.arange(2.0, arrivals[-1] + 4.0, 2.0)
    depth = [(float(t), float(sum(1 for a, s in waiting_until if a <= t < s))) for t in times]
    return jobs, depth


def write_run_dir(path: Path, jobs: list[JobRecord], depth: list[tuple[float, float]], pollers: int = 4,
                  batch_size: int = 1) -> Path:
    """``synthetic_jobs``' pollers take one job at a time, so the honest record says batches of 1."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "summary.json").write_text(json.dumps({"run": {"duration_s": 90.0}, "series": {"queue_depth": depth}}))
    (path / "sync_jobs.json").write_text(json.dumps({
        "schema_version": 1, "queue_t0_epoch": T0,
        "worker": {"processes": 1, "concurrency": pollers, "batch_size": batch_size},
        "jobs": [job.__dict__ for job in jobs]}))
    return path


def run_validate(run_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The command in-process (a subprocess would pay the interpreter and numba start-up each time)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["capacity", "validate", str(run_dir), "--json", "--replications", "5", *extra])
    return subprocess.CompletedProcess([], code, out.getvalue(), err.getvalue())


def test_service_times_are_recovered_from_completions() -> None:
    jobs, depth = synthetic_jobs()
    run = measured_from_records(Path("x"), T0, WorkerPool(1, 4, 10), jobs, depth, 90.0)
    batches = reconstruct_service_times(run)
    assert batches.sizes.sum() == len(jobs)
    # lognormal(median 130 ms, sigma 0.5): mean ~147 ms; a reconstruction that counted waiting would be higher
    assert 120 < batches.per_job_ms.mean() < 175


def test_consistent_run_validates(tmp_path: Path) -> None:
    jobs, depth = synthetic_jobs()
    run = measured_from_records(tmp_path, T0, WorkerPool(1, 4, 10), jobs, depth, 90.0)
    report = validate_run(run, replications=5)
    assert report.passed, report.to_json()
    assert report.exit_code == 0


def test_a_pool_claimed_larger_than_it_was_fails(tmp_path: Path) -> None:
    """The run really had ONE poller near saturation (a queue built up and the sampler saw it) but the record
    claims eight: replayed with eight, the simulator predicts no backlog, and the command must say it is off."""
    jobs, depth = synthetic_jobs(n=400, rate=7.0, pollers=1, seed=4)
    assert np.mean([v for _, v in depth]) > 3  # the measured run did queue
    result = run_validate(write_run_dir(tmp_path / "run", jobs, depth, pollers=8))
    report = json.loads(result.stdout)
    assert result.returncode == 1, report
    assert report["depth"]["passed"] is False
    # Replayed with the pool it really had, the same measurements validate.
    honest = run_validate(write_run_dir(tmp_path / "honest", jobs, depth, pollers=1))
    assert honest.returncode == 0, honest.stdout
    # And the model's batching matters: told the pollers take up to 10 at once, the queued jobs would finish
    # with their whole batch, later than measured.
    batched = json.loads(run_validate(write_run_dir(tmp_path / "batched", jobs, depth, 1, 10)).stdout)
    assert batched["latency"][0]["predicted_s"] > batched["latency"][0]["measured_s"]


def test_a_backlog_the_model_cannot_produce_fails(tmp_path: Path) -> None:
    jobs, depth = synthetic_jobs()
    depth = [(t, v + 40.0) for t, v in depth]  # the sampler saw 40 more messages waiting all along
    result = run_validate(write_run_dir(tmp_path / "run", jobs, depth))
    report = json.loads(result.stdout)
    assert result.returncode == 1, report
    assert report["depth"]["passed"] is False
    assert report["depth"]["mean_abs_error"] > report["depth"]["allowed"]
    assert (tmp_path / "run" / "validate.html").read_text().count("<svg") == 2  # depth chart + percentile bars


def test_consistent_run_dir_exits_0_and_writes_html(tmp_path: Path) -> None:
    jobs, depth = synthetic_jobs()
    result = run_validate(write_run_dir(tmp_path / "run", jobs, depth), "--html", str(tmp_path / "v.html"))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert [c["percentile"] for c in report["latency"]] == [95.0, 99.0]
    assert "predicted queue depth" in (tmp_path / "v.html").read_text()


def test_percentile_check_fails_a_prediction_twice_the_measurement() -> None:
    rng = np.random.default_rng(5)
    measured = rng.lognormal(np.log(0.3), 0.4, 400)
    honest = [rng.lognormal(np.log(0.3), 0.4, 400) for _ in range(5)]
    off = [2.0 * p for p in honest]
    assert check_percentile(measured, honest, 95.0, Tolerance(), seed=1).passed
    assert not check_percentile(measured, off, 95.0, Tolerance(), seed=1).passed
    assert not check_percentile(measured, [0.4 * p for p in honest], 99.0, Tolerance(), seed=1).passed


def test_percentile_interval_widens_for_small_runs() -> None:
    rng = np.random.default_rng(6)
    small = check_percentile(rng.lognormal(0, 0.5, 20), [rng.lognormal(0, 0.5, 20)], 99.0, Tolerance(), 1)
    large = check_percentile(rng.lognormal(0, 0.5, 5000), [rng.lognormal(0, 0.5, 5000)], 99.0, Tolerance(), 1)
    width = lambda c: (c.interval_s[1] - c.interval_s[0]) / c.measured_s  # noqa: E731
    assert width(small) > 2 * width(large)


def test_depth_tolerance_has_an_absolute_floor_and_a_relative_part() -> None:
    assert check_depth(np.zeros(10), np.full(10, 1.5), Tolerance()).passed  # 1.5 msgs off at idle: noise
    assert not check_depth(np.zeros(10), np.full(10, 3.0), Tolerance()).passed
    busy = np.full(10, 100.0)
    assert check_depth(busy, busy * 1.2, Tolerance()).passed  # 20 off a peak of 100: within 25 %
    assert not check_depth(busy, busy * 1.5, Tolerance()).passed


def test_missing_sync_jobs_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text("{}")
    result = subprocess.run([sys.executable, "-m", "sim", "capacity", "validate", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "sync_jobs.json" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("too_few", [0, 3])
def test_too_few_syncs_is_a_usage_error(tmp_path: Path, too_few: int) -> None:
    jobs, depth = synthetic_jobs(n=max(too_few, 1))
    result = run_validate(write_run_dir(tmp_path / "run", jobs[:too_few] or [
        JobRecord("q", "api", "QUEUED", T0 + 1, None, 1)], depth))
    assert result.returncode == 2, result.stdout + result.stderr


def test_batch_overhead_is_fitted_from_batches_of_several_sizes() -> None:
    from sim.queueing.measured import batch_overhead_s

    rng = np.random.default_rng(8)
    sizes = rng.integers(1, 11, 200)
    durations = 0.5 + 0.1 * sizes + rng.normal(0, 0.02, 200)
    assert abs(batch_overhead_s(sizes, durations) - 0.5) < 0.05
    assert batch_overhead_s(np.ones(50, dtype=int), np.full(50, 0.3)) == 0.0  # one size: not identifiable
