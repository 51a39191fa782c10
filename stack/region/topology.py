"""Where the two regions' pieces are: which processes make up each region, the replicator's control URL and
capture listeners, the router. Written to ``<state_dir>/region.json`` by :class:`stack.region.pair.RegionPair`
and read back by the region faults (from a running Stack or from a state file)."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TOPOLOGY_FILE = "region.json"


@dataclass(frozen=True)
class RegionTopology:
    primary: str
    dr: str
    processes: dict[str, list[str]]            # region -> the application processes running in it
    replicator_url: str
    capture_urls: dict[str, str] = field(default_factory=dict)
    router_url: str | None = None
    api_urls: dict[str, str] = field(default_factory=dict)
    redis_urls: dict[str, str] = field(default_factory=dict)
    table: str = "SyncWellMetadata"
    moto_dynamodb_url: str = ""
    env: dict[str, dict[str, str]] = field(default_factory=dict)   # region -> what its processes run with on top
    #                                                                of the stack's service environment

    def region_of_process(self, name: str) -> str | None:
        return next((region for region, names in self.processes.items() if name in names), None)

    def env_of(self, name: str) -> dict[str, str]:
        """The environment overrides of a process of the pair ({} for one of no region: router, replicator)."""
        region = self.region_of_process(name)
        return dict(self.env.get(region, {})) if region else {}

    @property
    def regions(self) -> tuple[str, str]:
        return (self.primary, self.dr)

    def region_named(self, name: str) -> str:
        """``primary``/``dr`` or a region name -> the region name."""
        aliases = {"primary": self.primary, "dr": self.dr, "secondary": self.dr}
        region = aliases.get(name, name)
        if region not in self.regions:
            raise KeyError(f"unknown region {name!r}; the pair runs {self.primary} (primary) and {self.dr} (dr)")
        return region

    def write(self, state_dir: Path) -> Path:
        path = state_dir / TOPOLOGY_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, path)
        return path

    @classmethod
    def read(cls, state_dir: str | os.PathLike[str]) -> "RegionTopology":
        data: dict[str, Any] = json.loads((Path(state_dir) / TOPOLOGY_FILE).read_text())
        return cls(**data)
