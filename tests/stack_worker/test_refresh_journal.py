"""Token refresh with rotation across processes (stack/worker/refreshjournal.py): the per-connection refresh lock
and the write-ahead record, against moto over HTTP and the Strava fake. Each CredentialStore here stands for a
separate worker process (its own in-memory cache)."""
from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from stack import schema
from stack.bootstrap import local_app_secret
from stack.providers import make_clients
from stack.worker.credentials import CredentialStore
from stack.worker.refreshjournal import RefreshJournal, journal_key

from .harness import client, wait_for
from .test_worker_happy import _new_pair


def _worker_credentials(stack: Any, refreshes: list[str]) -> CredentialStore:
    """What one worker process has: its own clients, cache and journal handle. A long lock wait: on a loaded
    machine the other holder's refresh may take more than the worker's 3 s (then a job is retried, not failed)."""
    providers = make_clients(stack.config.provider_urls, lambda _provider: None)
    return CredentialStore(client("secretsmanager"), providers, on_refresh=refreshes.append,
                           journal=RefreshJournal(client("dynamodb"), stack.config.table_name), lock_wait_s=60)


def _expire(stack: Any, user_id: str, connection_id: str) -> dict[str, Any]:
    tokens = {**stack.tokens(user_id, connection_id), "expiresAt": int(time.time()) - 10}
    stack.sm.put_secret_value(SecretId=schema.connection_secret_name(user_id, connection_id),
                              SecretString=json.dumps(tokens))
    return tokens


def _refused(strava: Any, refresh_token: str) -> bool:
    response = httpx.post(strava.url + "/oauth/token", data={
        "client_id": local_app_secret("strava")["clientId"], "client_secret": "x", "grant_type": "refresh_token",
        "refresh_token": refresh_token})
    return response.status_code == 400


def test_two_workers_refreshing_one_connection_at_once_make_one_refresh(make_stack, strava):
    stack = make_stack()
    user_id, src, _, src_user, _ = _new_pair(stack, strava)
    old = _expire(stack, user_id, src)
    secret = schema.connection_secret_name(user_id, src)
    refreshes: list[str] = []
    workers = [_worker_credentials(stack, refreshes) for _ in range(2)]
    for worker in workers:
        assert worker.tokens(secret)["refreshToken"] == old["refreshToken"]  # both start from the old tokens
    refresh_calls_before = _refresh_calls(strava)
    barrier = threading.Barrier(2)
    got: list[str] = []
    errors: list[BaseException] = []

    def run(worker: CredentialStore) -> None:
        barrier.wait()
        try:
            got.append(worker.access_token("strava", secret))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # Without the lock the second refresh presents a refresh token the first just rotated: invalid_grant, and a
    # worker that re-reads the secret before the first one stored it concludes the grant is revoked.
    assert errors == []
    assert refreshes == ["strava"] and _refresh_calls(strava) - refresh_calls_before == 1  # one call at Strava
    stored = stack.tokens(user_id, src)
    assert got == [stored["accessToken"]] * 2 and stored["refreshToken"] != old["refreshToken"]
    assert stack.get(**_key(secret)) is None  # lock released, nothing pending


def test_a_refresh_whose_store_failed_is_finished_by_the_next_worker(make_stack, strava, moto_env):
    stack = make_stack()
    user_id, src, _, src_user, _ = _new_pair(stack, strava)
    old = _expire(stack, user_id, src)
    secret = schema.connection_secret_name(user_id, src)
    first_refreshes: list[str] = []
    first = _worker_credentials(stack, first_refreshes)
    first.tokens(secret)  # cached, with the app secret: the refresh itself needs no Secrets Manager read
    first.app_secret("strava")
    proxy = moto_env["secrets_proxy"]
    proxy.set_down(True)
    try:
        rotated = first.access_token("strava", secret)  # refreshed at Strava; PutSecretValue fails
    finally:
        proxy.set_down(False)
    assert first_refreshes == ["strava"] and _refused(strava, old["refreshToken"])
    assert stack.tokens(user_id, src)["refreshToken"] == old["refreshToken"]  # the store never landed
    record = stack.get(**_key(secret))
    assert record is not None and record["basedOn"] == old["refreshToken"]
    del first  # the process that held them in memory is gone

    second_refreshes: list[str] = []
    second = _worker_credentials(stack, second_refreshes)
    assert second.access_token("strava", secret) == rotated
    assert second_refreshes == [] and second.recovered_refreshes == 1  # no refresh: the refused token is not sent
    stored = stack.tokens(user_id, src)
    assert stored["accessToken"] == rotated and stored["refreshToken"] != old["refreshToken"]
    assert stack.get(**_key(secret)) is None


def test_a_pending_record_older_than_the_secret_is_dropped_not_restored(make_stack, strava):
    """A reconnect (new grant stored by the API) after an abandoned refresh: the stale record must not win."""
    stack = make_stack()
    user_id, src, _, _, _ = _new_pair(stack, strava)
    secret = schema.connection_secret_name(user_id, src)
    current = stack.tokens(user_id, src)
    journal = RefreshJournal(stack.ddb, stack.config.table_name)
    stale = {**current, "accessToken": "stale-access", "refreshToken": "stale-refresh"}
    assert journal.acquire(secret, "dead-worker") is not None
    journal.write_ahead(secret, "dead-worker", stale, based_on="an-older-refresh-token")
    _expire(stack, user_id, src)
    refreshes: list[str] = []
    token = _worker_credentials(stack, refreshes).access_token("strava", secret)
    assert refreshes == ["strava"] and token not in ("stale-access", current["accessToken"])
    assert stack.tokens(user_id, src)["accessToken"] == token
    assert stack.get(**_key(secret)) is None


def _refresh_calls(strava: Any) -> int:
    """POST /oauth/token calls the fake served, refused ones included (tests of one process run one at a time)."""
    return int(strava.control.counters()["calls_by_route"].get("POST /oauth/token", 0))


def _key(secret: str) -> dict[str, str]:
    key = journal_key(secret)
    return {"pk": key["PK"], "sk": key["SK"]}


def test_a_job_whose_connection_another_worker_is_refreshing_waits_and_is_not_failed(make_stack, strava):
    stack = make_stack()
    user_id, src, dst, _, _ = _new_pair(stack, strava)
    old = _expire(stack, user_id, src)
    secret = schema.connection_secret_name(user_id, src)
    other = RefreshJournal(stack.ddb, stack.config.table_name)
    assert other.acquire(secret, "another-worker") is not None  # a live refresher holds the lock (30 s lease)
    worker = stack.start_worker(concurrency=1)
    job_id = stack.submit(stack.job_message(user_id, src, dst))
    wait_for(lambda: worker.counters.snapshot()["busy_locks"] >= 1, 60, what="the job to wait for the refresh lock")
    assert stack.job(user_id, job_id)["status"] == "QUEUED"
    other.release(secret, "another-worker")  # it finished without storing anything new
    stack.wait_job(user_id, job_id)
    counters = worker.counters.snapshot()
    assert counters["retried"] == 0 and counters["token_refreshes"] == 1
    assert stack.tokens(user_id, src)["refreshToken"] != old["refreshToken"]
