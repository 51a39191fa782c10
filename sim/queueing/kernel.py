"""The fast simulator's event loop, compiled with numba (plain Python still runs it, ~100x slower).

A batch is the unit of work: when an invocation starts, every outcome of its jobs (token or refusal, failure,
service time) is decided at once, so a batch costs one completion event however many jobs it carries.
State is a handful of arrays:

- ``arrivals`` (sorted) with two cursors: ``seen`` (arrived by now) and ``taken`` (received at least once),
  so new messages waiting are ``seen - taken`` and never need a queue of their own;
- ``pending``: a binary heap of (visible-at, job) for jobs sent back by a refusal or a failure;
- ``ready``: a FIFO (a ring buffer) of re-visible jobs. Jobs leave ``pending`` in time order and every later push is visible
  no earlier than now, so a FIFO keeps them in visibility order;
- ``completions``: a binary heap of invocation end times (one per running invocation).

The next batch takes the oldest visible jobs from ``ready`` and ``arrivals`` (a two-way merge). The loop only
visits arrival times when a slot is free, so at saturation the cost is per batch, not per job.
"""
from __future__ import annotations

import math

import numpy as np

try:  # numba is optional at import time: without it the same code runs as ordinary Python
    from numba import njit
except ImportError:  # pragma: no cover - exercised only where numba is absent
    def njit(*args, **kwargs):  # type: ignore[no-redef]
        if args and callable(args[0]):
            return args[0]
        return lambda function: function

HAVE_NUMBA = njit.__module__.startswith("numba")

# Indices of the integer counters the kernel returns.
C_INVOCATIONS = 0
C_RECEIVES = 1
C_REFUSALS = 2
C_SUCCEEDED = 3
C_DEAD_LETTERED = 4
C_DLQ_BY_REFUSAL = 5
C_SUCCEEDED_AFTER_HORIZON = 6
C_ITERATIONS = 7
C_WAITING_NEW = 8
C_WAITING_READY = 9
C_PENDING = 10
C_MAX_DEPTH = 11
C_MAX_BUSY = 12
C_ARRIVED = 13
C_SAMPLES = 14
C_FAILURES = 15
N_COUNTERS = 16

# Indices of the float counters.
F_BILLED_MS = 0
F_BUSY_S = 1
F_END_TIME = 2
F_MAX_LIMIT = 3
N_FLOATS = 4

# Per-job outcome codes.
OUTCOME_IN_FLIGHT = 0
OUTCOME_SUCCEEDED = 1
OUTCOME_DEAD_LETTERED = 2


@njit(cache=True, inline="always")
def _heap_push(keys, vals, size, key, val):
    i = size
    keys[i] = key
    vals[i] = val
    while i > 0:
        parent = (i - 1) >> 1
        if keys[parent] <= keys[i]:
            break
        keys[parent], keys[i] = keys[i], keys[parent]
        vals[parent], vals[i] = vals[i], vals[parent]
        i = parent
    return size + 1


@njit(cache=True, inline="always")
def _heap_pop(keys, vals, size):
    """Remove the root; the caller reads ``keys[0]``/``vals[0]`` first. Returns the new size."""
    size -= 1
    keys[0] = keys[size]
    vals[0] = vals[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        right = left + 1
        if right < size and keys[right] < keys[left]:
            child = right
        if keys[i] <= keys[child]:
            break
        keys[child], keys[i] = keys[i], keys[child]
        vals[child], vals[i] = vals[i], vals[child]
        i = child
    return size


@njit(cache=True)
def run_kernel(
    arrivals,  # f8[n] sorted arrival times (s)
    provider,  # i1[n] provider index of each job
    poisoned,  # b1[n] job fails non-transiently on every receive
    lambda_mode,  # bool: scale like the SQS event-source mapping, else a fixed pool of max_limit workers
    initial_limit,
    max_limit,
    up_per_tick,
    down_per_tick,
    tick_s,
    batch_size,
    svc_kind,  # 0 lognormal(mu, sigma) in seconds, 1 empirical samples (seconds)
    svc_mu,
    svc_sigma,
    svc_samples,
    svc_pool,  # f8[m] service times drawn ahead (vectorised, same distribution); used first, in order
    overhead_s,
    refusal_s,
    bucket_rate,  # f8[p]
    bucket_burst,  # f8[p]
    backoff_base,
    backoff_cap,
    resend_mode,  # bool: a refusal re-sends the message (receive count restarts at 0)
    max_receives,
    visibility_timeout,
    p_transient,
    horizon,  # stop here at the latest (finite)
    sample_s,
    seed,
    wait,  # out f4[n]: first-receive wait (-1 if never received)
    e2e,  # out f4[n]: arrival to successful completion (-1 otherwise)
    receives_per_job,  # out i2[n]: receives of each job (all of them, across re-sends)
    outcome,  # out i1[n]
    refusals_by_provider,  # out i8[p]
):
    np.random.seed(seed)
    n = arrivals.shape[0]
    n_providers = bucket_rate.shape[0]
    counters = np.zeros(N_COUNTERS, dtype=np.int64)
    floats = np.zeros(N_FLOATS, dtype=np.float64)
    sqs_count = np.zeros(n, dtype=np.int16)  # SQS ApproximateReceiveCount (restarts on a re-send)
    attempt = np.zeros(n, dtype=np.int16)  # refusals so far: the backoff exponent

    n_svc_samples = svc_samples.shape[0]
    n_svc_pool = svc_pool.shape[0]
    svc_next = 0
    tokens = bucket_burst.copy()
    token_time = np.zeros(n_providers, dtype=np.float64)
    start_time = arrivals[0] if n > 0 else 0.0
    for p in range(n_providers):
        token_time[p] = start_time

    # Every buffer is allocated once at its largest possible size: an array variable that may be reassigned
    # (to grow it) makes numba count references on every use, atomically, which cost 4-5x the whole loop.
    # A job sits in at most one place at a time, so `n` bounds the retry heap and the re-visible ring.
    capacity = max(n, 1)
    pend_keys = np.empty(capacity, dtype=np.float64)
    pend_vals = np.empty(capacity, dtype=np.int64)
    pend_size = 0
    ready_keys = np.empty(capacity, dtype=np.float64)  # a ring: `ready_len` jobs from `ready_head` on
    ready_vals = np.empty(capacity, dtype=np.int64)
    ready_head = 0
    ready_len = 0
    comp_keys = np.empty(int(max_limit) + 1, dtype=np.float64)  # one completion per running invocation
    comp_vals = np.empty(int(max_limit) + 1, dtype=np.int64)
    comp_size = 0

    n_samples_cap = int(min(max((horizon - start_time) / sample_s, 0.0), 5_000_000.0)) + 2
    s_time = np.empty(n_samples_cap, dtype=np.float64)
    s_depth = np.empty(n_samples_cap, dtype=np.int64)
    s_depth_max = np.empty(n_samples_cap, dtype=np.int64)
    s_delayed = np.empty(n_samples_cap, dtype=np.int64)
    s_busy = np.empty(n_samples_cap, dtype=np.int64)
    s_busy_max = np.empty(n_samples_cap, dtype=np.int64)
    s_limit = np.empty(n_samples_cap, dtype=np.float64)
    n_samples = 0
    interval_depth_max = 0
    interval_busy_max = 0

    batch_ids = np.empty(batch_size, dtype=np.int64)
    batch_kind = np.empty(batch_size, dtype=np.int8)  # 0 ok, 1 failed

    limit = initial_limit if lambda_mode else max_limit
    busy = 0
    seen = 0
    taken = 0
    now = start_time
    next_tick = start_time + tick_s
    next_sample = start_time + sample_s
    max_depth = 0
    max_busy = 0
    max_limit_seen = limit

    while True:
        counters[C_ITERATIONS] += 1
        # 1. Bring the state up to `now`.
        while seen < n and arrivals[seen] <= now:
            seen += 1
        while comp_size > 0 and comp_keys[0] <= now:
            comp_size = _heap_pop(comp_keys, comp_vals, comp_size)
            busy -= 1
        while pend_size > 0 and pend_keys[0] <= now:
            key = pend_keys[0]
            code = pend_vals[0]
            pend_size = _heap_pop(pend_keys, pend_vals, pend_size)
            val = code >> 1
            if sqs_count[val] >= max_receives:
                # SQS redrives instead of delivering: the receive count is used up.
                counters[C_DEAD_LETTERED] += 1
                counters[C_DLQ_BY_REFUSAL] += code & 1
                outcome[val] = 2
                continue
            slot = ready_head + ready_len
            if slot >= capacity:
                slot -= capacity
            ready_keys[slot] = key
            ready_vals[slot] = val
            ready_len += 1
        visible = (seen - taken) + ready_len

        # 2. Scheduled ticks: the Lambda scaler decides on the backlog it sees, then a sample is taken.
        while now >= next_tick:
            if lambda_mode:
                if visible > 0:
                    limit = min(max_limit, limit + up_per_tick)
                else:
                    limit = max(initial_limit, limit - down_per_tick)
                if limit > max_limit_seen:
                    max_limit_seen = limit
            next_tick += tick_s
        if visible > max_depth:
            max_depth = visible
        if visible > interval_depth_max:
            interval_depth_max = visible
        while now >= next_sample:
            if n_samples == n_samples_cap:  # only with an absurd horizon / interval ratio: stop sampling
                next_sample += sample_s
                continue
            s_time[n_samples] = next_sample
            s_depth[n_samples] = visible
            s_depth_max[n_samples] = interval_depth_max
            s_delayed[n_samples] = pend_size
            s_busy[n_samples] = busy
            s_busy_max[n_samples] = max(interval_busy_max, busy)
            s_limit[n_samples] = limit
            n_samples += 1
            interval_depth_max = visible
            interval_busy_max = busy
            next_sample += sample_s

        # 3. Start invocations while a slot is free and a message is visible.
        while busy < math.floor(limit) and visible > 0:
            count = 0  # jobs that hold a token (their outcome is settled at the end)
            received = 0
            duration = overhead_s
            while received < batch_size:
                from_ready = ready_len > 0
                from_new = taken < seen
                if from_ready and from_new:
                    from_ready = ready_keys[ready_head] <= arrivals[taken]
                elif not from_ready and not from_new:
                    break
                if from_ready:
                    job = ready_vals[ready_head]
                    ready_head += 1
                    if ready_head == capacity:
                        ready_head = 0
                    ready_len -= 1
                else:
                    job = taken
                    taken += 1
                    wait[job] = now - arrivals[job]
                visible -= 1
                received += 1
                counters[C_RECEIVES] += 1
                receives_per_job[job] += 1
                sqs_count[job] += 1
                p = provider[job]
                if bucket_rate[p] > 0:  # rate <= 0 encodes "unlimited"
                    elapsed = now - token_time[p]
                    if elapsed > 0:
                        tokens[p] = min(bucket_burst[p], tokens[p] + elapsed * bucket_rate[p])
                        token_time[p] = now
                    has_token = tokens[p] >= 1.0
                    if has_token:
                        tokens[p] -= 1.0
                else:
                    has_token = True
                if has_token:
                    # Written out here rather than called: an array passed to a helper costs atomic refcounts.
                    if svc_next < n_svc_pool:
                        duration += svc_pool[svc_next]
                        svc_next += 1
                    elif svc_kind == 0:
                        duration += np.random.lognormal(svc_mu, svc_sigma)
                    else:
                        duration += svc_samples[np.random.randint(0, n_svc_samples)]
                    failed = poisoned[job] or (p_transient > 0.0 and np.random.random() < p_transient)
                    batch_ids[count] = job
                    batch_kind[count] = 1 if failed else 0
                    count += 1
                    continue
                # Refused: back to the queue after full-jitter backoff; never a failure.
                counters[C_REFUSALS] += 1
                refusals_by_provider[p] += 1
                duration += refusal_s
                exponent = min(int(attempt[job]), 60)
                delay = np.random.random() * min(backoff_cap, backoff_base * 2.0**exponent)
                if attempt[job] < 32000:
                    attempt[job] += 1
                visible_at = now + delay
                if resend_mode:
                    sqs_count[job] = 0
                # With ChangeMessageVisibility the count stays: at max_receives the next receive redrives it.
                pend_size = _heap_push(pend_keys, pend_vals, pend_size, visible_at, job * 2 + 1)
            end = now + duration
            counters[C_INVOCATIONS] += 1
            floats[F_BILLED_MS] += math.ceil(duration * 1000.0 - 1e-9)  # Lambda bills by the started ms
            floats[F_BUSY_S] += duration
            for i in range(count):
                job = batch_ids[i]
                if batch_kind[i] == 0:
                    if end <= horizon:
                        counters[C_SUCCEEDED] += 1
                        outcome[job] = 1
                        e2e[job] = end - arrivals[job]
                    else:
                        counters[C_SUCCEEDED_AFTER_HORIZON] += 1
                    continue
                counters[C_FAILURES] += 1
                # Partial batch response: the failed job reappears when its visibility timeout runs out.
                visible_at = max(now + visibility_timeout, end)
                pend_size = _heap_push(pend_keys, pend_vals, pend_size, visible_at, job * 2)
            comp_size = _heap_push(comp_keys, comp_vals, comp_size, end, count)
            busy += 1
            if busy > max_busy:
                max_busy = busy
            if busy > interval_busy_max:
                interval_busy_max = busy

        # 4. The next instant anything can change.
        idle = taken == n and ready_len == 0 and pend_size == 0 and busy == 0
        if idle:
            break
        next_time = np.inf
        slots = math.floor(limit)
        # A completion matters only when it frees a slot someone waits for, or to finish the run: with spare
        # slots and an empty queue it just lowers `busy`, which the next event does anyway (halves the events).
        drained = taken == n and ready_len == 0 and pend_size == 0
        if comp_size > 0 and (busy >= slots or drained):
            next_time = comp_keys[0]
        if busy < slots:
            if seen < n and arrivals[seen] < next_time:
                next_time = arrivals[seen]
            if pend_size > 0 and pend_keys[0] < next_time:
                next_time = pend_keys[0]
        if lambda_mode and next_tick < next_time:
            next_time = next_tick
        if next_sample < next_time:
            next_time = next_sample
        if next_time > horizon:
            break
        now = next_time

    # Jobs that turned visible by the end but were not looked at (all workers busy): SQS redrives the used-up ones.
    waiting_ready = ready_len
    while pend_size > 0 and pend_keys[0] <= horizon:
        code = pend_vals[0]
        pend_size = _heap_pop(pend_keys, pend_vals, pend_size)
        if sqs_count[code >> 1] >= max_receives:
            counters[C_DEAD_LETTERED] += 1
            counters[C_DLQ_BY_REFUSAL] += code & 1
            outcome[code >> 1] = 2
        else:
            waiting_ready += 1
    # Everything not finished is in flight: waiting (new or re-visible), delayed, or finishing after the horizon.
    arrived = n
    if horizon < np.inf:
        arrived = np.searchsorted(arrivals, horizon, side="right")
    counters[C_ARRIVED] = arrived
    counters[C_WAITING_NEW] = arrived - taken
    counters[C_WAITING_READY] = waiting_ready
    counters[C_PENDING] = pend_size
    counters[C_MAX_DEPTH] = max_depth
    counters[C_MAX_BUSY] = max_busy
    counters[C_SAMPLES] = n_samples
    floats[F_END_TIME] = now
    floats[F_MAX_LIMIT] = max_limit_seen
    return (
        counters,
        floats,
        s_time[:n_samples].copy(),
        s_depth[:n_samples].copy(),
        s_depth_max[:n_samples].copy(),
        s_delayed[:n_samples].copy(),
        s_busy[:n_samples].copy(),
        s_busy_max[:n_samples].copy(),
        s_limit[:n_samples].copy(),
    )
