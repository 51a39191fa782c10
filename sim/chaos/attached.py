"""A stack started elsewhere (``swsim up``), driven through its state file: what the runner needs of a Stack."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.errors import UsageError


@dataclass
class AttachedStack:
    state: dict[str, Any]
    users: list[Any]
    state_path: Path

    @classmethod
    def from_state(cls, path: Path) -> "AttachedStack":
        from sim.load import _seeded_user_from_json
        from stack.launcher.stack import load_state
        from stack.seed import SeededUser

        try:
            state = load_state(path)
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read the stack state {path}: {exc}") from exc
        if state.get("stopped"):
            raise UsageError(f"the stack in {path} has stopped; start it with 'swsim up'")
        users = [_seeded_user_from_json(SeededUser, u) for u in json.loads(Path(state["users_file"]).read_text())]
        return cls(state, users, Path(path))

    @property
    def endpoints(self) -> dict[str, str]:
        return dict(self.state["endpoints"])

    @property
    def api_url(self) -> str:
        return str(self.state["api_url"])

    @property
    def aws_env(self) -> dict[str, str]:
        return dict(self.state["aws_env"])

    def fake_url(self, provider: str) -> str:
        return self.endpoints[f"fake-{provider}"]

    @property
    def minter(self) -> Any:
        from stack.identity import TokenMinter

        return TokenMinter(Path(self.state["keys_dir"]))

    @property
    def worker_names(self) -> list[str]:
        return list((self.state.get("faults") or {}).get("worker_names") or
                    [n for n in self.state["processes"] if n.startswith("worker")])

    def fault_context(self, seed: int) -> Any:
        from stack.faults.context import FaultContext

        return FaultContext.from_state(self.state, seed=seed)
