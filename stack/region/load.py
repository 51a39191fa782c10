"""The rehearsal's traffic: a traffic model (Nominal by default) replayed through the failover router by the
project's open-model Locust engine (``scenarios.engine``) with SyncWell's client behaviours (``scenarios.syncwell``),
as ``swsim load`` does, with every answer recorded for the RTO and RPO.

Two halves, in two processes:

- here (the rehearsal's process): :class:`RouterTraffic` writes the scenario context (the seeded users with
  Firebase tokens: Firebase is a global service, so one token is valid in both regions), draws the model's
  arrivals at the plan's DAU and compression over a generous horizon, runs the engine in a thread and stops it
  when the rehearsal is done (``OpenModelRun.stop``: the rehearsal's phases last as long as recovery takes);
- in the Locust process: :func:`observed` wraps each SyncWell builder so every answer (the scheduled request and
  its follow-ups, e.g. a sync job's polls) is appended to a JSON-lines journal next to the context file: name,
  send and answer times, status and the region that answered (the router's ``X-Swsim-Region``); a sync-job
  submission also carries its user and job id. A 202 to ``POST /v1/sync-jobs`` is an *acknowledged write* (the job
  item is in that region's table), the subject of the RPO.
"""
from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from reports.result import RunResult
from scenarios.engine.requests import FollowUp, RequestSpec, ResponseInfo
from scenarios.engine.schedule_file import ScheduledEvent
from scenarios.syncwell import BUILDERS, CONTEXT_ENV, ContextConnection, ContextUser, context, write_context
from sim.errors import SetupError
from sim.models import get_model
from sim.schedule import build_rate_profile, generate_arrivals
from stack.identity import TokenMinter
from stack.seed import SeededUser

SUBMIT = "POST /v1/sync-jobs"
JOURNAL_FILE = "router-requests.jsonl"      # next to the scenario context
REGION_HEADER = "x-swsim-region"
FAKE_EMIT_SUFFIX = "(fake emit)"            # webhook traffic asks a fake provider, not the router
REQUEST_TIMEOUT_S = 5.0
DRAIN_TIMEOUT_S = 15.0                      # after stop: answers in flight and sync-job polls
HORIZON_MARGIN_S = 300.0                    # schedule beyond the plan's phases: fault, restart and failback time
FIRST_ANSWER_TIMEOUT_S = 90.0               # the Locust process starts (imports, spawns its users)
TOKEN_TTL_S = 6 * 3600


@dataclass(frozen=True)
class Attempt:
    """One sync-job submission through the router."""

    sent: float          # time.time() when sent
    done: float
    status: int          # HTTP status, 0 = no answer (timeout / connection error)
    region: str | None   # the region that answered (router header)
    user_id: str
    job_id: str | None

    @property
    def acknowledged(self) -> bool:
        return self.status == 202 and self.job_id is not None


@dataclass(frozen=True)
class RequestRecord:
    """Any request of the mix (submissions included)."""

    name: str
    sent: float
    done: float
    status: int
    region: str | None

    @property
    def through_router(self) -> bool:
        return not self.name.endswith(FAKE_EMIT_SUFFIX)

    @property
    def failed(self) -> bool:
        return self.status == 0 or self.status >= 500


@dataclass(frozen=True)
class TrafficSpec:
    model: str
    dau: int
    compress: float
    locust_users: int
    seed: int
    kinds: tuple[str, ...] = ()      # only these of the model's request kinds (empty: the whole mix)


class RouterTraffic:
    """The model's traffic through ``base_url`` from :meth:`start` until :meth:`stop`."""

    def __init__(self, base_url: str, users: Sequence[SeededUser], minter: TokenMinter, fake_urls: Mapping[str, str],
                 spec: TrafficSpec, horizon_s: float, work_dir: Path) -> None:
        self.base_url = base_url
        self.fake_urls = dict(fake_urls)  # webhook traffic: the fakes emit, and deliver to the router
        self.spec = spec
        self.work_dir = work_dir
        self.journal = work_dir / JOURNAL_FILE
        self._context_users = [_context_user(u, minter) for u in users]
        self._events = _schedule(spec, horizon_s + HORIZON_MARGIN_S)
        self._run: Any = None
        self._thread: threading.Thread | None = None
        self._result: RunResult | None = None
        self._error: BaseException | None = None

    @property
    def scheduled(self) -> int:
        return len(self._events)

    def start(self) -> "RouterTraffic":
        """Start the Locust process and return once its first answer is in (the load flows)."""
        from scenarios.engine import OpenModelRun

        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.journal.unlink(missing_ok=True)
        context_path = write_context(self.work_dir / "scenario-context.json", self._context_users, self.fake_urls,
                                     self.spec.seed)
        os.environ[CONTEXT_ENV] = str(context_path.resolve())  # the Locust process inherits it
        self._run = OpenModelRun(self.base_url, self._events, REGION_BUILDERS, pool_size=self.spec.locust_users,
                                 out_dir=self.work_dir / "engine", request_timeout_s=REQUEST_TIMEOUT_S,
                                 drain_timeout_s=DRAIN_TIMEOUT_S, print_progress_lines=False)
        self._thread = threading.Thread(target=self._drive, name="region-load", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + FIRST_ANSWER_TIMEOUT_S
        while not self.requests():
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise SetupError(f"the rehearsal's load did not start: {self._error or 'no answer in time'} "
                                 f"(log: {self.work_dir / 'engine' / 'loadgen.log'})")
            time.sleep(0.1)
        return self

    def _drive(self) -> None:
        try:
            self._result = self._run.run()
        except BaseException as exc:  # reported by start() or stop(); the rehearsal decides
            self._error = exc

    def stop(self) -> list[Attempt]:
        """Fire nothing more, wait for the answers in flight (and the sync jobs' polls), return every attempt."""
        if self._run is not None:
            self._run.stop()
        if self._thread is not None:
            self._thread.join(DRAIN_TIMEOUT_S + 30)
        return self.attempts()

    @property
    def result(self) -> RunResult | None:
        """The engine's own result (Locust statistics, HDR latencies) once stopped."""
        return self._result

    def requests(self) -> list[RequestRecord]:
        return [_request(row) for row in _read_journal(self.journal)]

    def attempts(self) -> list[Attempt]:
        """Every sync-job submission answered so far (the Locust process appends as answers come)."""
        return [Attempt(row["sent"], row["done"], row["status"], row["region"], row["user_id"], row.get("job_id"))
                for row in _read_journal(self.journal) if row["name"] == SUBMIT]


def _schedule(spec: TrafficSpec, duration_s: float) -> list[Any]:
    profile = build_rate_profile(get_model(spec.model, dau=spec.dau), compression=spec.compress,
                                 duration_s=duration_s)
    return list(generate_arrivals(profile, seed=spec.seed, kinds=list(spec.kinds) or None))


def _context_user(user: SeededUser, minter: TokenMinter) -> ContextUser:
    return ContextUser(user_id=user.user_id, token=minter.mint("firebase", user.user_id, ttl_s=TOKEN_TTL_S),
                       connections=tuple(ContextConnection(c.connection_id, c.provider, c.provider_user_id)
                                         for c in user.connections),
                       pairs=tuple((p.source_connection_id, p.destination_connection_id, p.data_type)
                                   for p in user.pairs))


def _read_journal(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    # the Locust process may be writing the last line right now: complete lines only
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def _request(row: dict[str, Any]) -> RequestRecord:
    return RequestRecord(row["name"], row["sent"], row["done"], row["status"], row["region"])


# ---- the Locust side ---------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _journal_fd() -> int:
    path = Path(os.environ[CONTEXT_ENV]).with_name(JOURNAL_FILE)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def _note(name: str, sent: float, response: ResponseInfo, **extra: Any) -> None:
    region = next((v for k, v in response.headers.items() if k.lower() == REGION_HEADER), None)
    if isinstance(region, (tuple, list)):  # dict(geventhttpclient Headers) is {lower name: (Name, value)}
        region = region[-1] if region else None
    row = {"name": name, "sent": sent, "done": time.time(), "status": response.status, "region": region, **extra}
    os.write(_journal_fd(), (json.dumps(row) + "\n").encode())  # one write per line: O_APPEND keeps lines whole


class _NotingFollowUp:
    """The engine's FollowUp, noting each follow-up request (a sync job's polls) in the journal too."""

    def __init__(self, inner: FollowUp) -> None:
        self._inner = inner
        self.event = inner.event

    def request(self, spec: RequestSpec) -> ResponseInfo:
        sent = time.time()
        response = self._inner.request(spec)
        _note(spec.label, sent, response)
        return response

    def elapsed_s(self) -> float:
        return self._inner.elapsed_s()

    def record_latency(self, histogram: str, latency_s: float) -> None:
        self._inner.record_latency(histogram, latency_s)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)

    def spawn(self, function: Callable[[], None]) -> None:
        self._inner.spawn(function)


def observed(event: ScheduledEvent) -> RequestSpec | None:
    """SyncWell's request for ``event``, its answer noted in the journal (the engine calls a builder right
    before it sends, so now is the send time)."""
    spec = BUILDERS[event.kind](event)
    if spec is None:
        return None
    sent, label, then = time.time(), spec.label, spec.after

    def after(followup: FollowUp, response: ResponseInfo) -> None:
        extra: dict[str, Any] = {}
        if label == SUBMIT:
            extra["user_id"] = context().user(event.user_index).user_id
            if response.status == 202:
                extra["job_id"] = str(response.json().get("jobId") or "") or None
        _note(label, sent, response, **extra)
        if then is not None:
            then(_NotingFollowUp(followup), response)

    spec.after = after
    return spec


REGION_BUILDERS: dict[str, Callable[[ScheduledEvent], RequestSpec | None]] = {kind: observed for kind in BUILDERS}
