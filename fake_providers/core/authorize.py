"""The consent step the three fakes share (``/authorize``-style pages that approve at once): who approves, the
authorization code issued, and the redirect back to the client with the code in its query string."""
from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import urlencode

from aiohttp import web

from .state import ProviderState, User


def with_query(url: str, params: Mapping[str, Any]) -> str:
    """``url`` with ``params`` appended to its query string (which it may already have)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}{urlencode(params)}"


def redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location})


def consenting_user(st: ProviderState, user_id: str | None, scopes: list[str] | None, client_id: str | None) -> User:
    """The user who approves: the one named, if the fake has it, else a new one (with that id when one is given)."""
    user = st.users.get(user_id) if user_id else None
    if user is None:
        user, _ = st.create_user(user_id, scopes, with_tokens=False, client_id=client_id)
    return user


def pkce_code_params(st: ProviderState, query: Mapping[str, str], user: User, scopes: list[str]) -> dict[str, str]:
    """Issue a code bound to the client, its redirect_uri and its PKCE challenge; the redirect's query parameters
    (the code, and the client's ``state`` when it sent one)."""
    code = st.tokens.new_code(user.user_id, scopes, st.clock.now(), client_id=query.get("client_id"),
                              redirect_uri=query.get("redirect_uri"), code_challenge=query.get("code_challenge"),
                              challenge_method=query.get("code_challenge_method", "S256"))
    params = {"code": code.code}
    if "state" in query:
        params["state"] = query["state"]
    return params
