"""hang: hold the request past the client's timeout. attributes: seconds (default 30), then respond|reset
(what happens when the hang ends: the normal response, or the connection is aborted)."""
from __future__ import annotations

import asyncio

from . import register
from .base import Choice, Fault, Number
from .reset import abort


class HangFault(Fault):
    type_name = "hang"
    description = "hold the request for N seconds (past a client timeout), then respond or reset"
    accepts = {"then": Choice("respond", ("respond", "reset")), "seconds": Number(30.0, hi=3600)}

    async def before(self, ctx):
        await asyncio.sleep(self.attributes["seconds"])
        if self.attributes["then"] == "reset":
            abort(ctx.request)
        return None


register(HangFault, "timeout")
