"""Last-writer-wins bookkeeping of a two-region global table, as DynamoDB global tables (version 2019) do it:
every item carries the time of its last write; a replicated change is applied in the other region only when it is
newer than what that region holds, so concurrent writes converge on the latest one everywhere.

The timestamps are kept here (the replicator's memory), not in the items, so the application's items are unchanged.
Pure logic: unit-tested without any process."""
from __future__ import annotations

from dataclasses import dataclass, field

ItemKey = tuple[str, str]  # (PK, SK)


@dataclass(frozen=True)
class Version:
    """When an item was last written and in which region (the region breaks exact-time ties deterministically)."""

    ts: float
    region: str

    def newer_than(self, other: "Version | None") -> bool:
        return other is None or (self.ts, self.region) > (other.ts, other.region)


@dataclass
class LwwLedger:
    """Per region, the version of every item written there (locally or by replication)."""

    regions: tuple[str, ...]
    versions: dict[str, dict[ItemKey, Version]] = field(default_factory=dict)
    conflicts: int = 0   # replicated changes dropped because the destination held a newer write

    def __post_init__(self) -> None:
        for region in self.regions:
            self.versions.setdefault(region, {})

    def local_write(self, region: str, key: ItemKey, ts: float) -> Version:
        """A write acknowledged in ``region`` at ``ts`` (from the region's own services)."""
        version = Version(ts, region)
        current = self.versions[region].get(key)
        if version.newer_than(current):
            self.versions[region][key] = version
        return self.versions[region][key]

    def version(self, region: str, key: ItemKey) -> Version | None:
        return self.versions[region].get(key)

    def should_apply(self, destination: str, key: ItemKey, incoming: Version) -> bool:
        """True when ``incoming`` (the source's latest version of the item) wins in ``destination``."""
        if incoming.newer_than(self.versions[destination].get(key)):
            return True
        if self.versions[destination].get(key) != incoming:
            self.conflicts += 1
        return False

    def applied(self, destination: str, key: ItemKey, incoming: Version) -> None:
        self.versions[destination][key] = incoming
