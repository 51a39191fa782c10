"""Client of the AWS chaos proxy's control API (LocalStack's Chaos API plus the ``/_swsim`` extensions)."""
from __future__ import annotations

from typing import Any

import httpx

from stack.faults.envelope import FaultDefinitionError


class AwsChaosClient:
    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, self.base_url + path, json=body, timeout=self.timeout_s)
        if response.status_code == 400:
            raise FaultDefinitionError(response.json().get("error", response.text))
        response.raise_for_status()
        return response.json()

    def get_rules(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_localstack/chaos/faults")  # type: ignore[no-any-return]

    def set_rules(self, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._call("POST", "/_localstack/chaos/faults", rules)  # type: ignore[no-any-return]

    def add_rules(self, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._call("PATCH", "/_localstack/chaos/faults", rules)  # type: ignore[no-any-return]

    def delete_rules(self, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._call("DELETE", "/_localstack/chaos/faults", rules)  # type: ignore[no-any-return]

    def delete_named(self, name: str) -> None:
        self.delete_rules([{"name": name}])

    def get_effects(self) -> dict[str, Any]:
        return self._call("GET", "/_localstack/chaos/effects")  # type: ignore[no-any-return]

    def set_effects(self, effects: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/_localstack/chaos/effects", effects)  # type: ignore[no-any-return]

    def set_outage(self, service: str, down: bool) -> None:
        self._call("PUT" if down else "DELETE", f"/_swsim/outages/{service}")

    def counters(self) -> dict[str, Any]:
        return self._call("GET", "/_swsim/counters")  # type: ignore[no-any-return]

    def reset_counters(self) -> None:
        self._call("POST", "/_swsim/counters/reset")
