"""What the region faults act through: the pair's topology (``<state_dir>/region.json``) found from a
:class:`stack.faults.FaultContext` (a running Stack or a state file), and the replicator's control API."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from stack.faults.base import FaultUnsupported
from stack.region.topology import TOPOLOGY_FILE, RegionTopology

if TYPE_CHECKING:
    from stack.faults.context import FaultContext


def topology_of(ctx: "FaultContext") -> RegionTopology:
    processes: Any = ctx.require_processes()
    stack = getattr(processes, "stack", None)
    state = getattr(processes, "state", None)
    state_dir = stack.state_dir if stack is not None else (state or {}).get("state_dir")
    if not state_dir or not (Path(state_dir) / TOPOLOGY_FILE).is_file():
        raise FaultUnsupported("this stack runs one region (no region.json): start it with "
                               "stack.region.RegionPair or 'swsim region up'")
    return RegionTopology.read(state_dir)


def region_of(ctx: "FaultContext", target: dict[str, str]) -> tuple[RegionTopology, str]:
    topology = topology_of(ctx)
    try:
        return topology, topology.region_named(target.get("region", "primary"))
    except KeyError as exc:
        raise FaultUnsupported(str(exc)) from exc


class ReplicatorControl:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = httpx.request(method, self.url + path, timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def pause(self) -> None:
        self._call("POST", "/pause")

    def resume(self) -> None:
        self._call("POST", "/resume")

    def region_down(self, region: str, down: bool) -> None:
        self._call("PUT" if down else "DELETE", f"/regions/{region}/down")

    def set_lag(self, lag_s: float) -> None:
        self._call("PUT", "/config", json={"lag_s": lag_s})

    def status(self) -> dict[str, Any]:
        return self._call("GET", "/status")
