"""The authorizer's JWKS cache in isolation (the JWKS endpoint is an httpx MockTransport)."""
from __future__ import annotations

import asyncio

import httpx

from stack.api.authorizer import Authorizer
from stack.api.errors import ApiError
from stack.config import IssuerConfig
from stack.identity import TokenMinter
from stack.identity.keys import jwks_document


def make_authorizer(minter: TokenMinter, served: list[str], fetches: list[int]) -> Authorizer:
    spec = minter.issuer("firebase")
    authorizer = Authorizer((IssuerConfig(spec.name, spec.issuer, spec.jwks_url, spec.audience),),
                            refresh_interval_s=3600)

    def handler(request: httpx.Request) -> httpx.Response:
        fetches.append(1)
        return httpx.Response(200, json=jwks_document(*(minter.keys[name] for name in served)))

    authorizer.http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    for keys in authorizer.by_issuer.values():
        keys.http = authorizer.http
    return authorizer


def age_the_cache(authorizer: Authorizer) -> None:
    """As if the refresh interval had passed since the last fetch."""
    for keys in authorizer.by_issuer.values():
        keys._last_fetch -= keys.refresh_interval_s


def test_unknown_kids_cause_at_most_one_refresh_per_interval(tmp_path) -> None:
    minter = TokenMinter(tmp_path, base_url="http://idp.local")
    fetches: list[int] = []

    async def run() -> None:
        authorizer = make_authorizer(minter, ["firebase"], fetches)
        await authorizer.start()
        assert (await authorizer.authenticate(f"Bearer {minter.mint('firebase', 'alice')}")).user_id == "alice"
        age_the_cache(authorizer)
        forged = [minter.mint("firebase", f"mallory{i}", unknown_kid=True, kid=f"kid-{i}") for i in range(50)]
        results = await asyncio.gather(*(authorizer.authenticate(f"Bearer {t}") for t in forged),
                                       return_exceptions=True)
        assert all(isinstance(r, ApiError) and r.status == 401 for r in results)
        await authorizer.close()

    asyncio.run(run())
    assert len(fetches) == 2          # startup + one refresh for the whole flood


def test_rotated_key_is_picked_up_on_first_sight(tmp_path) -> None:
    minter = TokenMinter(tmp_path, base_url="http://idp.local")
    fetches: list[int] = []
    served = ["firebase"]

    async def run() -> None:
        authorizer = make_authorizer(minter, served, fetches)
        await authorizer.start()
        age_the_cache(authorizer)
        served.append("rogue")        # the provider rotates in a new signing key
        token = minter.mint("firebase", "bob", unknown_kid=True)   # signed by the new key, its own kid
        assert (await authorizer.authenticate(f"Bearer {token}")).user_id == "bob"
        await authorizer.close()

    asyncio.run(run())
    assert len(fetches) == 2
