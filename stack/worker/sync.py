"""One sync job, metadata first: list source metadata since the cursor, list the destination's items in that time
window, resolve conflicts on metadata, hydrate only the items to write, write each with its external_id.

Every provider call goes through the token bucket (inside the clients); a 401 gets one refresh-and-retry, a second
401 means the grant is gone. Raises the provider/credential errors for the processor to classify.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, TypeVar

from stack.providers import HttpProvider, ItemMeta, TokenExpired, TokenRevoked, external_id_for
from stack.worker.conflicts import TZ_SHIFT_MAX_S, resolve
from stack.worker.credentials import CredentialStore
from stack.worker.device import DeviceUploadMissing, DeviceUploads
from stack.worker.refreshjournal import RefreshJournal

T = TypeVar("T")


class LeaseExpiring(Exception):
    """Not enough lease left to start another destination write safely: stop and retry later."""


class LeaseTooShortToStart(LeaseExpiring):
    """The job's lease was nearly over before it made any call (late in a slow batch): defer it untouched.

    Why not run it anyway: the batch's state write comes after its last job, so a job that starts past its
    deadline pushes that write past every lease in the batch; meanwhile SQS redelivers the messages and another
    worker runs them again without seeing what this batch wrote (Strava lists an upload only once processed)."""


class ConnectionNeedsReauth(Exception):
    """The connection is already marked needs_reauth: no third-party call is attempted."""


class MissingState(Exception):
    """A connection the job names does not exist (deleted): permanent."""


@dataclass
class SyncOutcome:
    items_written: int = 0
    items_in_sync: int = 0
    items_kept: int = 0
    listed: int = 0
    new_cursor: int = 0
    cursor_advanced: bool = False
    written_ids: list[str] = field(default_factory=list)   # external ids written by this run

    @property
    def found_new(self) -> bool:
        return self.listed > 0


def _chunks(items: list[ItemMeta]) -> list[list[ItemMeta]]:
    groups: dict[str, list[ItemMeta]] = {}
    for item in items:
        groups.setdefault(item.locator or item.item_id, []).append(item)
    return list(groups.values())


class SyncEngine:
    def __init__(self, providers: Mapping[str, HttpProvider], credentials: CredentialStore, *,
                 page_limit: int = 200, on_written: Callable[[int], None] | None = None,
                 device_uploads: DeviceUploads | None = None) -> None:
        self._providers = providers
        self._device_uploads = device_uploads
        self._creds = credentials
        self._page_limit = page_limit
        self._on_written = on_written

    def use_refresh_journal(self, journal: RefreshJournal) -> None:
        """Token refreshes coordinate with every other worker through ``journal`` (stack/worker/refreshjournal.py)."""
        self._creds.use_journal(journal)

    def prefetch_credentials(self, connections: list[Mapping[str, Any] | None]) -> None:
        """One Secrets Manager call for a whole batch's uncached tokens (see CredentialStore.prefetch)."""
        self._creds.prefetch(str(c["secretName"]) for c in connections
                             if c and c.get("secretName") and c.get("status") == "active")

    def run(self, job: Mapping[str, Any], source: Mapping[str, Any] | None, destination: Mapping[str, Any] | None,
            config: Mapping[str, Any] | None, deadline: float, outcome: SyncOutcome,
            already_written: frozenset[str] = frozenset()) -> SyncOutcome:
        """Fills ``outcome`` as it goes, so the caller knows what was written even when this raises part-way.

        ``deadline`` is checked before the first call and before every destination write (not just every chunk:
        a Garmin chunk is a whole upload window of activities)."""
        if time.time() > deadline:
            raise LeaseTooShortToStart("lease nearly over before the job started; deferred")
        if job.get("origin") == "device":
            return self._run_device_upload(job, destination, deadline, outcome, already_written)
        if source is None or destination is None:
            raise MissingState("source or destination connection not found")
        for connection in (source, destination):
            if connection.get("status") != "active":
                raise ConnectionNeedsReauth(f"connection {connection.get('connectionId')} is {connection.get('status')}")
        data_type = str(job["dataType"])
        cursor = int((config or {}).get("cursor") or 0)
        strategy = str((config or {}).get("conflictStrategy") or "newest_wins")
        src_client = self._providers[source["provider"]]
        dst_client = self._providers[destination["provider"]]

        items, new_cursor = self._authorised(source, lambda token: src_client.list_since(
            token, data_type, cursor, self._page_limit))
        outcome.listed, outcome.new_cursor, outcome.cursor_advanced = len(items), new_cursor, new_cursor > cursor
        if not items:
            return outcome
        external_ids = {i.item_id: external_id_for(i.provider, i.item_id, destination["connectionId"]) for i in items}
        decision = self._decide(items, destination, data_type, strategy, external_ids, already_written, outcome)
        # Hydrate and write chunk by chunk (one item, or one Garmin upload window): a run cut short by the token
        # bucket still makes progress, and it never holds more than one chunk of heavy payloads in memory.
        for chunk in _chunks(decision.to_write):
            if time.time() > deadline:
                raise LeaseExpiring("lease nearly over; the rest is written on retry")
            payloads = self._authorised(source, lambda token: src_client.hydrate(token, chunk))
            for payload in payloads:
                if time.time() > deadline:
                    raise LeaseExpiring("lease nearly over; the rest is written on retry")
                external_id = external_ids[payload.meta.item_id]
                self._authorised(destination, lambda token: dst_client.write(token, payload, external_id))
                outcome.items_written += 1
                outcome.written_ids.append(external_id)
                if self._on_written:
                    self._on_written(1)
        return outcome

    def _decide(self, items: list[ItemMeta], destination: Mapping[str, Any], data_type: str, strategy: str,
                external_ids: dict[str, str], already_written: frozenset[str], outcome: SyncOutcome) -> Any:
        """List the destination around the items and resolve conflicts on metadata."""
        # Wide enough to see our own earlier writes even when the destination shifted them by a time zone.
        window = (min(i.start for i in items) - TZ_SHIFT_MAX_S, max(i.start + i.duration_s for i in items) + TZ_SHIFT_MAX_S)
        dst_client = self._providers[destination["provider"]]
        dest_items = self._authorised(destination, lambda token: dst_client.list_window(
            token, data_type, window[0], window[1]))
        decision = resolve(items, dest_items, strategy, external_ids, already_written)
        outcome.items_in_sync, outcome.items_kept = len(decision.in_sync), len(decision.conflicts_kept)
        return decision

    def _run_device_upload(self, job: Mapping[str, Any], destination: Mapping[str, Any] | None, deadline: float,
                           outcome: SyncOutcome, already_written: frozenset[str]) -> SyncOutcome:
        """The upload is the source, already hydrated: list the destination, resolve, write what is missing."""
        if self._device_uploads is None:
            raise MissingState("device uploads are not configured in this worker")
        if destination is None:
            raise MissingState("destination connection not found")
        if destination.get("status") != "active":
            raise ConnectionNeedsReauth(f"connection {destination.get('connectionId')} is {destination.get('status')}")
        try:
            payloads = self._device_uploads.load(job)
        except DeviceUploadMissing as exc:
            raise MissingState(str(exc)) from exc
        outcome.listed = len(payloads)
        if not payloads:
            return outcome
        by_id = {p.meta.item_id: p for p in payloads}
        external_ids = {item_id: external_id_for("device", f"{job['userId']}:{item_id}", destination["connectionId"])
                        for item_id in by_id}
        decision = self._decide([p.meta for p in payloads], destination, str(job["dataType"]), "source_wins",
                                external_ids, already_written, outcome)
        dst_client = self._providers[destination["provider"]]
        for meta in decision.to_write:
            if time.time() > deadline:
                raise LeaseExpiring("lease nearly over; the rest is written on retry")
            external_id = external_ids[meta.item_id]
            self._authorised(destination, lambda token: dst_client.write(token, by_id[meta.item_id], external_id))
            outcome.items_written += 1
            outcome.written_ids.append(external_id)
            if self._on_written:
                self._on_written(1)
        return outcome

    def _authorised(self, connection: Mapping[str, Any], call: Callable[[str], T]) -> T:
        provider, secret = str(connection["provider"]), str(connection["secretName"])
        try:
            token = self._creds.access_token(provider, secret)
            try:
                return call(token)
            except TokenExpired:
                token = self._creds.access_token(provider, secret, force_refresh=True)
                try:
                    return call(token)
                except TokenExpired as exc:
                    raise TokenRevoked(f"{provider} still refuses a freshly refreshed token") from exc
        except TokenRevoked as exc:
            exc.connection = dict(connection)  # type: ignore[attr-defined]  # which grant failed, for needs_reauth
            raise
