"""Keeps moto's SQS as fast at a 10,000-message backlog as on an empty queue.

Why: stock moto 5.2.5 keeps a queue as one list and rescans it on every call. ReceiveMessage checks each message's
retention through ``get_queue_attributes``, which rebuilds ``queue.attributes`` three times, and each rebuild
counts delayed / in-flight / visible messages by scanning the whole list and reading the wall clock per message:
about 90 full scans per ReceiveMessage(10). DeleteMessage, ChangeMessageVisibility and every SendMessage (which
also reads ``queue.attributes``) scan it too. A backlog therefore slows every call (about 1 s per receive at
1,000 messages), which turns any backlog into a collapse.

What :func:`install` does (before the server serves; ``stack.launcher.moto_service`` calls it): it replaces
moto's ``Queue`` class with :class:`IndexedQueue` and the backend's receive / change-visibility paths, keeping
moto's ``Message`` objects and their fields (``visible_at``, ``delayed_until``, ``receipt_handle``,
``approximate_receive_count``...). Each queue keeps an index:

- every message is in exactly one state: READY (visible now), DELAYED (``DelaySeconds`` not over) or INFLIGHT
  (received, visibility timeout running), with a counter per state, so the approximate counts are O(1);
- READY messages sit in a heap ordered by send sequence (FIFO order within a message group); DELAYED and
  INFLIGHT ones in a heap ordered by the time they become visible, moved to READY lazily on each call
  (stale heap entries are skipped by a version number, so changing visibility or deleting is O(log n));
- receipt handles (current and earlier ones, as moto accepts both) map to their message in a dict;
- FIFO: the number of in-flight messages per group (a group with one in flight is blocked, as in moto), and the
  deduplication ids seen in the last 5 minutes (kept after the message is deleted, as AWS does; stock moto
  forgets them once the message is deleted).

Semantics kept, tested over HTTP in tests/stack_e2e/test_sqs_semantics.py: visibility timeout and its changes,
per-message and queue delays, redrive to the DLQ on the receive after ``maxReceiveCount`` receives, FIFO order
and group blocking, deduplication, purge, approximate counts, long polling. Also two leaks closed: moto tracks
every ``Message`` instance in a class-level list (never freed), and keeps every deleted receipt handle forever;
the second is bounded here to the last :data:`DELETED_HANDLES_KEPT` (deleting an older handle again answers
ReceiptHandleIsInvalid instead of success). Not supported by the patched queue: Lambda event source mappings
(moto-only feature; the stack runs its own worker).
"""
from __future__ import annotations

import copy
import heapq
import itertools
import logging
from collections import OrderedDict, deque
from typing import Any

from moto.core.utils import unix_time, unix_time_millis
from moto.sqs import models as sqs_models
from moto.sqs.exceptions import InvalidParameterValue, ReceiptHandleIsInvalid
from moto.sqs.models import DEDUPLICATION_TIME_IN_SECONDS, Message, Queue, SQSBackend, _filter_message_attributes

READY, DELAYED, INFLIGHT, GONE = "ready", "delayed", "inflight", "gone"
DELETED_HANDLES_KEPT = 200_000
MAX_VISIBILITY_TOTAL_MS = 43200 * 1000
_installed = False


class _Untracked(list):  # type: ignore[type-arg]
    """Replaces ``Message.instances_tracked``: moto appends every message (and every copy) there forever."""

    def append(self, _item: Any) -> None:
        return None


class _BoundedHandleSet:
    """The set of deleted receipt handles, keeping only the newest ``limit`` (moto's is unbounded)."""

    def __init__(self, limit: int = DELETED_HANDLES_KEPT) -> None:
        self._handles: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def __contains__(self, handle: object) -> bool:
        return handle in self._handles

    def update(self, handles: Any) -> None:
        for handle in handles:
            if handle is not None:
                self._handles[handle] = None
        while len(self._handles) > self._limit:
            self._handles.popitem(last=False)

    def __len__(self) -> int:
        return len(self._handles)


def _available(message: Message, now_ms: float) -> bool:
    """moto's own rule: visible (``now > visible_at``) and not delayed (``now >= delayed_until``)."""
    return now_ms > message.visible_at and now_ms >= message.delayed_until


class IndexedQueue(Queue):
    """moto's Queue with indexed message bookkeeping (see the module docstring)."""

    def __init__(self, name: str, region: str, account_id: str, **kwargs: Any) -> None:
        self._reset_index()
        super().__init__(name, region, account_id, **kwargs)
        self.deleted_messages = _BoundedHandleSet()  # type: ignore[assignment]

    # ---- index primitives (callers hold self._messages_lock once it exists) ---------------------------------
    def _reset_index(self) -> None:
        self._live: dict[str, Message] = {}
        self._ready: list[tuple[int, int, Message]] = []
        self._waiting: list[tuple[float, int, int, Message]] = []
        self._receipts: dict[str, Message] = {}
        self._counts = {READY: 0, DELAYED: 0, INFLIGHT: 0}
        self._inflight_groups: dict[str, int] = {}
        self._dedup_seen: dict[str, float] = {}
        self._dedup_order: deque[tuple[float, str]] = deque()
        self._sequence = itertools.count()

    def _place(self, message: Message, now_ms: float) -> None:
        """Put a message that is in no state into the state its timestamps say."""
        version = getattr(message, "_sw_version", 0) + 1
        message._sw_version = version  # type: ignore[attr-defined]
        seq: int = message._sw_seq  # type: ignore[attr-defined]
        if _available(message, now_ms):
            state = READY
            heapq.heappush(self._ready, (seq, version, message))
        elif now_ms < message.delayed_until:
            state = DELAYED
            heapq.heappush(self._waiting, (message.delayed_until, seq, version, message))
        else:
            state = INFLIGHT
            heapq.heappush(self._waiting, (message.visible_at, seq, version, message))
            if message.group_id is not None:
                self._inflight_groups[message.group_id] = self._inflight_groups.get(message.group_id, 0) + 1
        message._sw_state = state  # type: ignore[attr-defined]
        self._counts[state] += 1

    def _unplace(self, message: Message) -> None:
        """Take a message out of its state (its heap entries become stale)."""
        state = getattr(message, "_sw_state", GONE)
        if state == GONE:
            return
        self._counts[state] -= 1
        if state == INFLIGHT and message.group_id is not None:
            left = self._inflight_groups[message.group_id] - 1
            if left:
                self._inflight_groups[message.group_id] = left
            else:
                del self._inflight_groups[message.group_id]
        message._sw_state = GONE  # type: ignore[attr-defined]
        message._sw_version = getattr(message, "_sw_version", 0) + 1  # type: ignore[attr-defined]

    def _index_handles(self, message: Message) -> None:
        for handle in message.all_receipt_handles:
            if handle is not None:
                self._receipts[handle] = message

    def _forget(self, message: Message) -> None:
        """Remove a message from this queue entirely (deleted, redriven, expired)."""
        self._unplace(message)
        self._live.pop(message.id, None)
        for handle in message.all_receipt_handles:
            if handle is not None and self._receipts.get(handle) is message:
                del self._receipts[handle]

    def _advance(self, now_ms: float) -> None:
        """Move every DELAYED / INFLIGHT message whose time has come to READY."""
        waiting = self._waiting
        while waiting:
            _due, _seq, version, message = waiting[0]
            if version != message._sw_version:  # type: ignore[attr-defined]
                heapq.heappop(waiting)
                continue
            if not _available(message, now_ms):
                return
            heapq.heappop(waiting)
            self._unplace(message)
            self._place(message, now_ms)

    def _next_due_s(self) -> float | None:
        return self._waiting[0][0] / 1000.0 if self._waiting else None

    # ---- moto's Queue interface ----------------------------------------------------------------------------
    @property  # type: ignore[override]
    def _messages(self) -> list[Message]:
        return list(self._live.values())

    @_messages.setter
    def _messages(self, value: list[Message]) -> None:
        """moto assigns ``[]`` in ``__init__`` and in PurgeQueue."""
        lock = self.__dict__.get("_messages_lock")
        if lock is None:
            self._reset_index()
            return
        with lock:
            dedup = (self._dedup_seen, self._dedup_order)
            self._reset_index()
            self._dedup_seen, self._dedup_order = dedup  # a purge does not reset deduplication (AWS)
            now_ms = unix_time_millis()
            for message in value:
                self._add_indexed(message, now_ms)

    @property
    def messages(self) -> list[Message]:
        with self._messages_lock:
            self._advance(unix_time_millis())
            return [m for _, version, m in sorted(self._ready) if version == m._sw_version]  # type: ignore

    @property
    def pending_messages(self) -> set[Message]:
        with self._messages_lock:
            return {m for m in self._live.values() if getattr(m, "_sw_state", None) == INFLIGHT}

    @property
    def pending_message_groups(self) -> set[str]:
        with self._messages_lock:
            return set(self._inflight_groups)

    @property
    def approximate_number_of_messages_delayed(self) -> int:
        return self._count(DELAYED)

    @property
    def approximate_number_of_messages_not_visible(self) -> int:
        return self._count(INFLIGHT)

    @property
    def approximate_number_of_messages(self) -> int:
        return self._count(READY)

    def _count(self, state: str) -> int:
        with self._messages_lock:
            self._advance(unix_time_millis())
            return self._counts[state]

    def add_message(self, message: Message) -> None:
        with self._messages_lock:
            if self.fifo_queue and (self.content_based_deduplication or message.deduplication_id):  # type: ignore
                if self._is_duplicate(message):
                    return
            self._add_indexed(message, unix_time_millis())
            self._messages_lock.notify_all()

    def _add_indexed(self, message: Message, now_ms: float) -> None:
        message._sw_seq = next(self._sequence)  # type: ignore[attr-defined]
        message._sw_state = GONE  # type: ignore[attr-defined]
        self._live[message.id] = message
        self._index_handles(message)
        self._place(message, now_ms)

    def _is_duplicate(self, message: Message) -> bool:
        """Same deduplication id sent in the last 5 minutes (AWS: even when that message was deleted)."""
        sent = float(message.sent_timestamp or unix_time_millis())
        horizon = sent - DEDUPLICATION_TIME_IN_SECONDS * 1000
        while self._dedup_order and self._dedup_order[0][0] < horizon:
            stamp, old_id = self._dedup_order.popleft()
            if self._dedup_seen.get(old_id) == stamp:
                del self._dedup_seen[old_id]
        dedup_id = str(message.deduplication_id)
        first = self._dedup_seen.get(dedup_id)
        if first is not None and (sent - first) / 1000 < DEDUPLICATION_TIME_IN_SECONDS:
            return True
        self._dedup_seen[dedup_id] = sent
        self._dedup_order.append((sent, dedup_id))
        return False

    def delete_message(self, receipt_handle: str) -> None:
        with self._messages_lock:
            if receipt_handle in self.deleted_messages:
                return  # already deleted: AWS and moto accept it again
            message = self._receipts.get(receipt_handle)
            if message is None:
                raise ReceiptHandleIsInvalid()
            self._forget(message)
            self.deleted_messages.update(message.all_receipt_handles)

    def wait_for_messages(self, timeout: float) -> None:
        """Sleep until a message is added or the next delayed / in-flight one becomes visible (long polling)."""
        with self._messages_lock:
            self._advance(unix_time_millis())
            if self._counts[READY]:
                return
            due = self._next_due_s()
            if due is not None:
                timeout = max(0.0, min(timeout, due - unix_time() + 0.001))
            self._messages_lock.wait(timeout)

    # ---- receive / change visibility -----------------------------------------------------------------------
    def receive_indexed(self, backend: SQSBackend, count: int, visibility_timeout: int,
                        message_attribute_names: list[str]) -> list[Message]:
        with self._messages_lock:
            now_ms = unix_time_millis()
            self._advance(now_ms)
            taken: list[Message] = []
            blocked: list[tuple[int, int, Message]] = []
            to_dlq: list[Message] = []
            retention_ms = int(self.message_retention_period) * 1000  # type: ignore[attr-defined]
            max_receives = (self.redrive_policy or {}).get("maxReceiveCount") if self.dead_letter_queue else None
            while self._ready and len(taken) < count:
                entry = heapq.heappop(self._ready)
                _seq, version, message = entry
                if version != message._sw_version:  # type: ignore[attr-defined]
                    continue
                if self.fifo_queue and message.group_id in self._inflight_groups:
                    blocked.append(entry)  # its group has a message in flight: keep order, skip for now
                    continue
                if max_receives is not None and message.approximate_receive_count >= max_receives:
                    to_dlq.append(message)
                    continue
                if float(message.sent_timestamp or now_ms) + retention_ms <= now_ms:
                    self._forget(message)  # past the retention period: gone, as in AWS
                    continue
                self._unplace(message)
                message.mark_received(visibility_timeout=visibility_timeout)
                self._receipts[message.receipt_handle] = message  # type: ignore[index]
                taken.append(message)
            for entry in blocked:
                heapq.heappush(self._ready, entry)
            for message in taken:
                self._place(message, now_ms)
            for message in to_dlq:
                self._forget(message)
        for message in to_dlq:
            self.dead_letter_queue.add_message(message)  # type: ignore[union-attr]
        return [_response_copy(message, message_attribute_names) for message in taken]

    def change_visibility_indexed(self, receipt_handle: str, visibility_timeout: int) -> None:
        with self._messages_lock:
            message = self._receipts.get(receipt_handle)
            if message is None:
                raise ReceiptHandleIsInvalid
            now_ms = unix_time_millis()
            if now_ms + int(visibility_timeout) * 1000 - float(message.sent_timestamp) > MAX_VISIBILITY_TOTAL_MS:
                raise InvalidParameterValue(
                    f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
                    "VisibilityTimeout for the message is beyond the limit [43200 seconds]")
            self._unplace(message)
            message.change_visibility(visibility_timeout)
            self._place(message, now_ms)
            if message._sw_state == READY:  # type: ignore[attr-defined]
                self._messages_lock.notify_all()


def _response_copy(message: Message, message_attribute_names: list[str]) -> Message:
    """What moto's deepcopy was for: a snapshot for the response, with only the requested attributes."""
    snapshot = copy.copy(message)
    snapshot.message_attributes = dict(message.message_attributes)
    _filter_message_attributes(snapshot, message_attribute_names)
    return snapshot


def _receive_message(self: SQSBackend, queue_name: str, count: int, wait_seconds_timeout: int,
                     visibility_timeout: int, message_attribute_names: list[str] | None = None) -> list[Message]:
    queue = self.get_queue(queue_name)
    if not isinstance(queue, IndexedQueue):
        return _stock_receive(self, queue_name, count, wait_seconds_timeout, visibility_timeout,
                              message_attribute_names)
    polling_end = unix_time() + wait_seconds_timeout
    while True:
        result = queue.receive_indexed(self, count, visibility_timeout, message_attribute_names or [])
        remaining = polling_end - unix_time()
        if result or wait_seconds_timeout == 0 or remaining <= 0:
            return result
        queue.wait_for_messages(min(1.0, remaining))


def _change_message_visibility(self: SQSBackend, queue_name: str, receipt_handle: str,
                               visibility_timeout: int) -> None:
    queue = self.get_queue(queue_name)
    if not isinstance(queue, IndexedQueue):
        return _stock_change_visibility(self, queue_name, receipt_handle, visibility_timeout)
    queue.change_visibility_indexed(receipt_handle, visibility_timeout)


_stock_receive = SQSBackend.receive_message
_stock_change_visibility = SQSBackend.change_message_visibility


def install() -> None:
    """Patch moto's SQS model in this process (idempotent). Call before the first queue is created."""
    global _installed
    if _installed:
        return
    Message.instances_tracked = _Untracked()  # type: ignore[attr-defined]
    sqs_models.Queue = IndexedQueue  # type: ignore[misc]  # SQSBackend.create_queue looks the name up here
    SQSBackend.receive_message = _receive_message  # type: ignore[method-assign]
    SQSBackend.change_message_visibility = _change_message_visibility  # type: ignore[method-assign]
    _trim_per_request_overhead()
    _installed = True


def _trim_per_request_overhead() -> None:
    """Per call, not per message: ~25 % of the served process's CPU at the stack's hot path went to moto's and
    werkzeug's request plumbing rather than to SQS. Removed here, with nothing an SQS client can see changing:
    werkzeug's access log line (a formatted, locked, written line per call; errors are still logged),
    ``inspect.getmembers`` of the handler class on every call and request ids drawn as 52 ``random.choice``
    calls (stack.dynamodb_speedup's shared moto response patches: same request id shape, unique per process)."""
    from stack.dynamodb_speedup import install_response_patches

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    install_response_patches()
