"""hang: hold the request past the client's timeout. attributes: seconds (default 30), then respond|reset
(what happens when the hang ends: the normal response, or the connection is aborted)."""
from __future__ import annotations

import asyncio

from . import register
from .base import Fault, FaultDefinitionError, number, only
from .reset import abort


class HangFault(Fault):
    type_name = "hang"
    description = "hold the request for N seconds (past a client timeout), then respond or reset"

    @classmethod
    def parse(cls, a: dict) -> dict:
        only(a, {"seconds", "then"}, cls.type_name)
        then = a.get("then", "respond")
        if then not in ("respond", "reset"):
            raise FaultDefinitionError(f"attribute 'then' must be respond or reset, got {then!r}")
        return {"seconds": number(a, "seconds", 30.0, hi=3600), "then": then}

    async def before(self, ctx):
        await asyncio.sleep(self.attributes["seconds"])
        if self.attributes["then"] == "reset":
            abort(ctx.request)
        return None


register(HangFault, "timeout")
