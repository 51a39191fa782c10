"""The TTL sweeper (stack/scheduler/ttlsweep.py): moto never expires DynamoDB TTL items, the scheduler's pass does."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

from stack import schema
from stack.scheduler.__main__ import build
from stack.scheduler.ttlsweep import TtlSweeper, sweep_enabled

from .harness import service_env


def _items(stack, ttl: int | None, count: int = 1, prefix: str = "IDEM##") -> list[tuple[str, str]]:
    keys = []
    for _ in range(count):
        key = f"{prefix}{uuid.uuid4().hex}"
        item = {"PK": key, "SK": key, "status": "COMPLETED"}
        if ttl is not None:
            item[schema.TTL_ATTRIBUTE] = ttl
        stack.put(item)
        keys.append((key, key))
    return keys


def _present(stack, keys: list[tuple[str, str]]) -> int:
    return sum(stack.get(pk, sk) is not None for pk, sk in keys)


def test_expired_items_go_in_one_pass_unexpired_and_ttl_less_stay(make_stack):
    stack = make_stack()
    now = int(time.time())
    expired = _items(stack, now - 60, 3)
    user = schema.user_pk(f"u_{uuid.uuid4().hex[:8]}")
    stack.put({"PK": user, "SK": schema.job_sk("job_old"), "status": "SUCCEEDED", schema.TTL_ATTRIBUTE: now - 1})
    expired.append((user, schema.job_sk("job_old")))
    expired += _items(stack, now - 60, 1, prefix="LOCK#")  # a leased kind: deleted conditionally, one by one
    alive = _items(stack, now + 3600, 2) + _items(stack, None, 2) + _items(stack, now + 3600, 1, prefix="LOCK#")
    result = TtlSweeper(stack.ddb, stack.config.table_name).sweep()
    assert (result.expired, result.deleted, result.cycle_complete) == (5, 5, True)
    assert _present(stack, expired) == 0 and _present(stack, alive) == 5


def test_each_pass_is_bounded_and_resumes_where_the_last_stopped(make_stack):
    stack = make_stack()
    now = int(time.time())
    expired = _items(stack, now - 60, 10)
    alive = _items(stack, now + 3600, 5)
    sweeper = TtlSweeper(stack.ddb, stack.config.table_name, items_per_pass=4)
    passes = []
    while not passes or not passes[-1].cycle_complete:
        passes.append(sweeper.sweep())
        assert len(passes) <= 10
    assert all(p.evaluated <= 4 for p in passes) and len(passes) >= 4  # 15 items, 4 per pass
    assert sum(p.deleted for p in passes) == 10 and _present(stack, expired) == 0 and _present(stack, alive) == 5


def test_an_item_whose_ttl_moved_forward_is_not_deleted(make_stack):
    """A lock re-taken between the Scan and the delete gets a new ttl: the delete is conditional on it."""
    stack = make_stack()
    now = int(time.time())
    [(pk, sk)] = _items(stack, now - 60, prefix="LOCK#")
    sweeper = TtlSweeper(stack.ddb, stack.config.table_name)
    stack.put({"PK": pk, "SK": sk, "status": "INPROGRESS", schema.TTL_ATTRIBUTE: now + 86400})  # re-taken
    assert sweeper._delete({"PK": {"S": pk}, "SK": {"S": sk}}, now) == 0
    assert stack.get(pk, sk)["status"] == "INPROGRESS"


def test_scheduler_pass_sweeps_through_the_running_process(make_stack, tmp_path):
    stack = make_stack()
    now = int(time.time())
    expired, alive = _items(stack, now - 60, 2), _items(stack, now + 3600, 1)
    out = subprocess.run([sys.executable, "-m", "stack.scheduler", "--once"], env=service_env(stack, tmp_path),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["ttl_deleted"] == 2
    assert _present(stack, expired) == 0 and _present(stack, alive) == 1


def test_the_scheduler_sweeps_on_its_first_pass_then_once_per_interval(make_stack):
    stack = make_stack({"scheduler": {"ttl_sweep_interval_s": 3600}})
    now = int(time.time())
    first = _items(stack, now - 60, 2)
    scheduler = build(stack.config)
    assert scheduler.run_pass().ttl_deleted == 2 and _present(stack, first) == 0
    second = _items(stack, now - 60, 1)
    assert scheduler.run_pass().ttl_deleted == 0 and _present(stack, second) == 1  # within the interval
    scheduler.sweep_interval_s = 0.0
    scheduler._next_sweep = 0.0
    assert scheduler.run_pass().ttl_deleted == 1 and _present(stack, second) == 0


def test_off_on_real_aws_on_for_local_endpoints():
    assert not sweep_enabled("auto", {})  # no endpoint override: AWS, which expires items itself
    assert not sweep_enabled("auto", {"AWS_ENDPOINT_URL_DYNAMODB": "https://dynamodb.us-east-1.amazonaws.com"})
    assert sweep_enabled("auto", {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"})
    assert sweep_enabled("on", {}) and not sweep_enabled("off", {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"})
