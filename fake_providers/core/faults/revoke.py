"""token_revocation: revoke the user's grant (as if they disconnected the app): every access and refresh token of
the user is refused from then on, with the provider's own error, and the provider's revocation webhook is sent.
Fires on a matching request (the request itself then fails), or at once when attributes.immediate is true and
target.user names the user. attributes: immediate (bool), notify (bool, default true)."""
from __future__ import annotations

from . import register
from .base import Fault, FaultDefinitionError, Flag


class TokenRevocationFault(Fault):
    type_name = "token_revocation"
    description = "revoke a user's tokens (provider's own 401/403 afterwards, revocation webhook sent)"
    accepts = {"immediate": Flag(False), "notify": Flag(True)}

    async def on_install(self, state) -> None:
        if self.attributes["immediate"]:
            if not self.target.user:
                raise FaultDefinitionError("token_revocation with immediate=true needs target.user")
            if self.target.user not in state.users:
                raise FaultDefinitionError(f"target.user {self.target.user!r} is not a user of this fake")
            self.hits += 1
            state.revoke_user(self.target.user, reason=f"fault:{self.name}", notify=self.attributes["notify"])

    async def before(self, ctx):
        if ctx.user:
            ctx.state.revoke_user(ctx.user, reason=f"fault:{self.name}", notify=self.attributes["notify"])
        return None


register(TokenRevocationFault, "revoke", "token_revoke")
