"""error: answer with an HTTP error status and the provider's own error body for it.
attributes: status (400-599, default 500), message, retry_after (s), body (a raw body replacing the provider's)."""
from __future__ import annotations

from ..errors import ProviderError
from . import register
from .base import Fault, FaultDefinitionError, number, only

KINDS = {400: "bad_request", 401: "invalid_token", 403: "forbidden", 404: "not_found", 409: "conflict", 410: "gone",
         411: "length_required", 412: "precondition_failed", 429: "rate_limited"}


class ErrorFault(Fault):
    type_name = "error"
    description = "answer with an error status and the provider's own body"

    @classmethod
    def parse(cls, a: dict) -> dict:
        only(a, {"status", "message", "retry_after", "body", "kind"}, cls.type_name)
        status = number(a, "status", 500, lo=400, hi=599, integer=True)
        msg = a.get("message")
        if msg is not None and not isinstance(msg, str):
            raise FaultDefinitionError("attribute 'message' must be a string")
        kind = a.get("kind") or KINDS.get(int(status), "server_error")
        if not isinstance(kind, str):
            raise FaultDefinitionError("attribute 'kind' must be a string")
        return {"status": int(status), "message": msg, "retry_after": number(a, "retry_after", None, integer=True),
                "body": a.get("body"), "kind": kind}

    async def before(self, ctx):
        a = self.attributes
        headers = {"Retry-After": str(a["retry_after"])} if a["retry_after"] is not None else None
        raise ProviderError(a["status"], a["kind"], a["message"], headers=headers, body=a["body"],
                            detail={"fault": self.name})


register(ErrorFault, "status", "http_error")
