"""A small typed client of the control API (``/_fake/...``) of one fake."""
from __future__ import annotations

from typing import Any

import httpx


class ControlAPIError(RuntimeError):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"control API answered {status}: {body}")
        self.status = status
        self.body = body


class FakeControl:
    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "FakeControl":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _call(self, method: str, path: str, json: Any = None, params: dict | None = None) -> Any:
        r = self._http.request(method, f"/_fake{path}", json=json, params=params)
        try:
            body = r.json()
        except ValueError:
            body = r.text
        if r.status_code >= 400:
            raise ControlAPIError(r.status_code, body)
        return body

    # -- lifecycle -----------------------------------------------------------------------------------------------
    def health(self) -> dict:
        return self._call("GET", "/health")

    def reset(self) -> dict:
        return self._call("POST", "/reset")

    def seed(self, seed: int) -> dict:
        return self._call("POST", "/seed", {"seed": seed})

    def state(self) -> dict:
        return self._call("GET", "/state")

    # -- clock ---------------------------------------------------------------------------------------------------
    def now(self) -> float:
        return float(self._call("GET", "/clock")["now"])

    def clock(self) -> dict:
        return self._call("GET", "/clock")

    def set_clock(self, now: float, frozen: bool | None = None) -> dict:
        body: dict[str, Any] = {"now": now}
        if frozen is not None:
            body["frozen"] = frozen
        return self._call("PUT", "/clock", body)

    def advance(self, seconds: float) -> dict:
        return self._call("POST", "/clock/advance", {"seconds": seconds})

    def freeze(self, frozen: bool = True) -> dict:
        return self._call("POST", "/clock/freeze", {"frozen": frozen})

    # -- users ---------------------------------------------------------------------------------------------------
    def create_user(self, user_id: str | None = None, scopes: list[str] | None = None,
                    history_days: int | None = None, client_id: str | None = None) -> dict:
        body = {k: v for k, v in {"user_id": user_id, "scopes": scopes, "history_days": history_days,
                                  "client_id": client_id}.items() if v is not None}
        return self._call("POST", "/users", body)

    def create_users(self, count: int, prefix: str | None = None, history_days: int | None = None,
                     scopes: list[str] | None = None, start: int = 1) -> list[dict]:
        body = {k: v for k, v in {"count": count, "prefix": prefix, "history_days": history_days,
                                  "scopes": scopes, "start": start}.items() if v is not None}
        return self._call("POST", "/users/bulk", body)

    def users(self) -> list[str]:
        return self._call("GET", "/users")["users"]

    def user(self, user_id: str) -> dict:
        return self._call("GET", f"/users/{user_id}")

    def patch_user(self, user_id: str, **fields: Any) -> dict:
        return self._call("PATCH", f"/users/{user_id}", fields)

    def revoke(self, user_id: str, notify: bool = True) -> dict:
        return self._call("POST", f"/users/{user_id}/revoke", {"notify": notify})

    def new_tokens(self, user_id: str, scopes: list[str] | None = None) -> dict:
        return self._call("POST", f"/users/{user_id}/tokens", {"scopes": scopes} if scopes is not None else {})

    def auth_code(self, user_id: str | None = None, scopes: list[str] | None = None, **extra: Any) -> dict:
        body = {k: v for k, v in {"user_id": user_id, "scopes": scopes, **extra}.items() if v is not None}
        return self._call("POST", "/codes", body)

    # -- observation ---------------------------------------------------------------------------------------------
    def counters(self) -> dict:
        return self._call("GET", "/counters")

    def reset_counters(self) -> dict:
        return self._call("POST", "/counters/reset")

    def writes(self, user_id: str | None = None) -> list[dict]:
        return self._call("GET", "/writes", params={"user_id": user_id} if user_id else None)["writes"]

    def webhook_log(self) -> list[dict]:
        return self._call("GET", "/webhooks")["deliveries"]

    # -- faults --------------------------------------------------------------------------------------------------
    def add_fault(self, name: str, type: str, target: dict | None = None, probability: float = 1.0,
                  attributes: dict | None = None, max_hits: int | None = None) -> dict:
        env: dict[str, Any] = {"name": name, "type": type, "target": target or {}, "probability": probability,
                               "attributes": attributes or {}}
        if max_hits is not None:
            env["max_hits"] = max_hits
        return self._call("POST", "/faults", env)

    def add_fault_envelope(self, envelope: dict) -> dict:
        return self._call("POST", "/faults", envelope)

    def faults(self) -> list[dict]:
        return self._call("GET", "/faults")["faults"]

    def fault_types(self) -> dict[str, str]:
        return self._call("GET", "/faults")["types"]

    def delete_fault(self, name: str) -> dict:
        return self._call("DELETE", f"/faults/{name}")

    def clear_faults(self) -> dict:
        return self._call("DELETE", "/faults")

    # -- config and webhooks -------------------------------------------------------------------------------------
    def config(self) -> dict:
        return self._call("GET", "/config")

    def set_config(self, **values: Any) -> dict:
        return self._call("PUT", "/config", values)

    def emit_webhook(self, user_id: str, wait: bool = True, **params: Any) -> dict:
        return self._call("POST", "/webhooks/emit", {"user_id": user_id, "wait": wait, **params})

    def verify_subscriber(self, **params: Any) -> dict:
        return self._call("POST", "/webhooks/verify", params)
