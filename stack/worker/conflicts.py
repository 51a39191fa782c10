"""Conflict resolution on metadata only (001 "Intelligent Data Hydration"): decide which source items to write
before any heavy payload is fetched.

A destination item "matches" a source item when their start times are within ``MATCH_WINDOW_S``. For each source
item:

- a match that is already ours (its external_id is the one we derive for this item) or has the same content
  (the same duration to the second, and a start within a minute, give or take a whole time-zone shift, since
  Fitbit interprets the local time we send in the destination user's zone): skip, the item is in sync. This is also what makes a retry after a crash
  between "write to the destination" and "record COMPLETED" write nothing twice;
- a match that differs: ``dest_wins`` skips; ``source_wins`` writes; ``newest_wins`` (default) writes only when
  the source item changed after the destination one;
- no match: write.
"""
from __future__ import annotations

from dataclasses import dataclass

from stack.providers import ItemMeta

MATCH_WINDOW_S = 60
TZ_SHIFT_MAX_S = 14 * 3600   # a destination may read our local start time in ITS user's time zone
TZ_STEP_S = 900              # time zones are whole quarter hours
STRATEGIES = ("newest_wins", "source_wins", "dest_wins")


@dataclass(frozen=True)
class Decision:
    to_write: list[ItemMeta]
    in_sync: list[ItemMeta]        # already at the destination (ours or identical)
    conflicts_kept: list[ItemMeta]  # a different destination version won


def resolve(source: list[ItemMeta], destination: list[ItemMeta], strategy: str,
            external_ids: dict[str, str], already_written: frozenset[str] = frozenset()) -> Decision:
    """``already_written``: external ids an interrupted earlier run wrote (the destination may not list them yet)."""
    if strategy not in STRATEGIES:
        strategy = "newest_wins"
    dest_sorted = sorted(destination, key=lambda d: d.start)
    to_write: list[ItemMeta] = []
    in_sync: list[ItemMeta] = []
    kept: list[ItemMeta] = []
    for item in source:
        matches = [d for d in dest_sorted if abs(d.start - item.start) <= MATCH_WINDOW_S]
        ours = external_ids.get(item.item_id)
        if ours in already_written or any(_same(item, d, ours) for d in dest_sorted):
            in_sync.append(item)
        elif not matches or strategy == "source_wins":
            to_write.append(item)
        elif strategy == "dest_wins":
            kept.append(item)
        elif item.updated_at > max(d.updated_at for d in matches):
            to_write.append(item)
        else:
            kept.append(item)
    return Decision(to_write, in_sync, kept)


def _same(item: ItemMeta, dest: ItemMeta, our_external_id: str | None) -> bool:
    if our_external_id and dest.external_id == our_external_id:
        return True
    delta = abs(dest.start - item.start)
    if delta > TZ_SHIFT_MAX_S + MATCH_WINDOW_S or abs(dest.duration_s - item.duration_s) > 1:
        return False
    off_grid = delta % TZ_STEP_S
    return min(off_grid, TZ_STEP_S - off_grid) <= MATCH_WINDOW_S
