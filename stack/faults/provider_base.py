"""Shared base of the provider fault types: each forwards one fault envelope to the fakes' control API
(``POST /_fake/faults``; see fake_providers/README.md) of the targeted provider, or of all three; the rollback
deletes it (``DELETE /_fake/faults/{name}``). The fakes fire deterministically per (seed, name, n-th request)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Mapping

import httpx

from stack.faults.base import BaseFault, Rollback, once
from stack.faults.envelope import FaultDefinitionError

if TYPE_CHECKING:
    from stack.faults.context import FaultContext

PROVIDER_NAMES = ("strava", "fitbit", "garmin")


class ProviderFault(BaseFault):
    fake_type: ClassVar[str] = ""
    target_keys = frozenset({"provider", "route", "method", "user"})

    def validate(self) -> None:
        provider = self.spec.target.get("provider")
        if provider is not None and provider not in PROVIDER_NAMES:
            raise self.error(f"target.provider must be one of {list(PROVIDER_NAMES)}, got {provider!r}")

    def fake_attributes(self) -> dict[str, Any]:
        """The attributes in the fakes' vocabulary (types override to translate convenience names)."""
        return {k: v for k, v in self.attrs.items() if v is not None}

    def envelope(self, provider: str) -> dict[str, Any]:
        target = {k: v for k, v in self.spec.target.items() if k != "provider"}
        return {"name": self.spec.name, "type": self.fake_type, "target": {"provider": provider, **target},
                "probability": self.spec.probability, "attributes": self.fake_attributes()}

    def providers(self, ctx: "FaultContext") -> list[str]:
        provider = self.spec.target.get("provider")
        if provider:
            ctx.fake_url(provider)  # raises FaultUnsupported when that fake is not running
            return [provider]
        return [p for p in PROVIDER_NAMES if p in ctx.fake_urls]

    def apply(self, ctx: "FaultContext") -> Rollback:
        urls = {p: ctx.fake_url(p) for p in self.providers(ctx)}
        installed: list[str] = []
        try:
            for provider, url in urls.items():
                _post_fault(url, self.envelope(provider))
                installed.append(url)
        except BaseException:
            _delete_faults(installed, self.spec.name)
            raise
        return once(lambda: _delete_faults(installed, self.spec.name))


def _post_fault(url: str, envelope: Mapping[str, Any]) -> None:
    response = httpx.post(f"{url}/_fake/faults", json=envelope, timeout=10)
    if response.status_code == 400:
        raise FaultDefinitionError(f"fault {envelope['name']!r}: the fake refused it: {_message(response)}")
    response.raise_for_status()


def _delete_faults(urls: list[str], name: str) -> None:
    for url in urls:
        response = httpx.delete(f"{url}/_fake/faults/{name}", timeout=10)
        if response.status_code not in (200, 204, 404):
            response.raise_for_status()


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    return str(body.get("error") or body.get("message") or body) if isinstance(body, dict) else str(body)
