"""Bring-up and teardown of the embedded stack: nothing left behind, failures named, restarts, bad flags."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import redis

from stack.launcher import Stack, StackStartError, load_state
from stack.launcher.process import Readiness
from stack.launcher.services import ServiceSpec

INFRA = {"moto-sqs", "moto-dynamodb", "moto-secretsmanager", "moto-s3", "moto-events", "redis"}
CRASHER = [sys.executable, "-c", "import sys; sys.stderr.write('config file /nope is missing\\n'); sys.exit(3)"]


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def poll_until(predicate, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_stop_leaves_no_process_behind_and_state_file_lists_everything(syncwell_stack_factory):
    stack = syncwell_stack_factory(users=0, services=INFRA)
    state = load_state(stack.state_dir)
    pids = [p["pid"] for p in state["processes"].values()]
    fork_servers = set(state["processes"]) - INFRA
    assert fork_servers and fork_servers <= {"zygote", "zygote-moto"}, state["processes"]
    assert state["aws_env"]["AWS_ENDPOINT_URL_SQS"] == stack.endpoints["moto-sqs"]
    assert all(group_alive(pid) for pid in pids)

    stack.stop()

    assert not any(group_alive(pid) for pid in pids)


def test_a_child_crashing_at_start_is_named_with_exit_code_and_stderr(syncwell_stack_factory):
    crasher = ServiceSpec("crasher", "infra", CRASHER, port_flag=None)
    with pytest.raises(StackStartError) as failure:
        syncwell_stack_factory(users=0, services={"redis", "crasher"}, extra_services=[crasher], deadline_s=20)
    message = str(failure.value)
    assert "crasher exited with code 3" in message
    assert "config file /nope is missing" in message


def test_a_forked_python_child_failing_at_start_is_named_with_exit_code_and_stderr(syncwell_stack_factory):
    broken = ServiceSpec("broken", "infra", [sys.executable, "-m", "stack.launcher.moto_service", "--service", "nope"],
                         module="stack.launcher.moto_service", forked_by="zygote")
    with pytest.raises(StackStartError) as failure:
        syncwell_stack_factory(users=0, services={"broken"}, extra_services=[broken], deadline_s=30)
    message = str(failure.value)
    assert "broken exited with code 2" in message
    assert "invalid choice: 'nope'" in message


def test_a_child_that_never_gets_ready_is_named_at_the_deadline(syncwell_stack_factory):
    silent = ServiceSpec("silent", "infra", [sys.executable, "-c", "import time; time.sleep(60)"], port_flag=None)
    started = time.monotonic()
    with pytest.raises(StackStartError, match="silent did not become ready"):
        syncwell_stack_factory(users=0, services={"silent"}, extra_services=[silent], deadline_s=1.5)
    assert time.monotonic() - started < 10


def test_a_child_crashing_later_is_reported_and_redis_restarts_on_its_port(syncwell_stack_factory):
    stack = syncwell_stack_factory(users=0, services={"redis"})
    failures = []
    stack.on_child_failure = failures.append
    client = redis.Redis.from_url(stack.redis_url, socket_timeout=2)
    assert client.ping()

    os.kill(stack.process("redis").pid, signal.SIGKILL)

    assert poll_until(lambda: bool(failures))
    assert failures[0].name == "redis" and failures[0].exit_code == -signal.SIGKILL
    stack.restart_process("redis")
    assert client.ping()


def test_kill_and_restart_a_moto_service_keeps_its_endpoint(syncwell_stack_factory):
    stack = syncwell_stack_factory(users=0, services={"moto-sqs"})
    url = stack.endpoints["moto-sqs"]
    stack.kill_process("moto-sqs")
    assert not stack.process("moto-sqs").running
    stack.restart_process("moto-sqs")
    assert stack.endpoints["moto-sqs"] == url
    assert stack.failures == []


def run_swsim(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, message", [
    (["up", "--users", "-1"], "--users must be >= 0"),
    (["up", "--coalescing-delay", "901"], "between 0 and 900"),
    (["up", "--redis", "memcached"], "invalid choice"),
    (["demo", "--jobs", "0"], "--jobs must be >= 1"),
    (["demo", "--users", "0"], "--users must be >= 1"),
])
def test_bad_flags_exit_2_with_a_clear_message(args, message):
    done = run_swsim(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_swsim_up_prints_json_and_stops_everything_on_sigterm(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", "up", "--json", "--users", "0", "--only",
                             ",".join(sorted(INFRA)), "--state-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line.strip():
            proc.wait(30)
            pytest.fail(f"swsim up printed nothing (exit {proc.returncode}): {proc.stderr.read()[-3000:]}")
        state = json.loads(line)
        pids = [p["pid"] for p in state["processes"].values()]
        assert set(state["endpoints"]) == INFRA
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not any(group_alive(pid) for pid in pids)
    assert load_state(tmp_path)["stopped"] is True


def test_up_flags_reach_the_launcher_and_bad_values_are_usage_errors():
    import argparse

    from sim.commands import up
    from sim.errors import UsageError

    parser = argparse.ArgumentParser()
    up.register(parser.add_subparsers())
    kwargs = up.stack_kwargs(parser.parse_args(["up", "--workers", "3", "--no-fault-proxies"]))
    assert kwargs["workers"] == 3 and kwargs["fault_proxies"] is False
    defaults = up.stack_kwargs(parser.parse_args(["up"]))
    assert defaults["workers"] == 1 and defaults["fault_proxies"] is True
    with pytest.raises(UsageError, match="--workers"):
        up.stack_kwargs(parser.parse_args(["up", "--workers", "0"]))


def test_identity_keys_are_cached_per_user_and_restored_into_a_fresh_keys_dir(tmp_path, monkeypatch):
    from stack.launcher import identity_keys

    monkeypatch.setenv(identity_keys.ENV, str(tmp_path / "cache"))
    first = tmp_path / "run1" / "keys"
    first.mkdir(parents=True)
    (first / "firebase.key.pem").write_bytes(b"PEM-1")
    identity_keys.remember(first)
    second = tmp_path / "run2" / "keys"
    assert identity_keys.restore(second) == 1
    assert (second / "firebase.key.pem").read_bytes() == b"PEM-1"
    assert (second / "firebase.key.pem").stat().st_mode & 0o777 == 0o600
    (second / "firebase.key.pem").write_bytes(b"PEM-2")
    assert identity_keys.restore(second) == 0 and (second / "firebase.key.pem").read_bytes() == b"PEM-2"
    monkeypatch.setenv(identity_keys.ENV, "off")
    assert identity_keys.restore(tmp_path / "run3") == 0
