"""empty_body and malformed_body: the handler runs, but the body sent is empty, or truncated / garbage / an HTML
proxy page. attributes: status (default: the handler's), mode (malformed only: truncate|garbage|html)."""
from __future__ import annotations

from aiohttp import web

from . import register
from .base import Choice, Fault, Number

STATUS = Number(None, lo=100, hi=599, integer=True)    # default: the handler's own status


class EmptyBodyFault(Fault):
    type_name = "empty_body"
    description = "send an empty body (status kept unless given)"
    accepts = {"status": STATUS}

    async def after(self, ctx, response):
        ct = response.headers.get("Content-Type", "application/json")
        return web.Response(status=self.attributes["status"] or response.status, body=b"",
                            headers={"Content-Type": ct})


class MalformedBodyFault(Fault):
    type_name = "malformed_body"
    description = "send a truncated / garbage / HTML body with the usual content type"
    accepts = {"mode": Choice("truncate", ("truncate", "garbage", "html")), "status": STATUS}

    async def after(self, ctx, response):
        body = response.body if isinstance(getattr(response, "body", None), (bytes, bytearray)) else b""
        mode = self.attributes["mode"]
        if mode == "truncate":
            new = bytes(body[: max(1, len(body) // 2)]) if len(body) > 1 else b'{"'
        elif mode == "garbage":
            new = b'{"id": 1, "name": \x00\xff\xfe garbage' + b"]]}}"
        else:
            new = b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
        ct = response.headers.get("Content-Type", "application/json")
        return web.Response(status=self.attributes["status"] or response.status, body=new,
                            headers={"Content-Type": ct})


register(EmptyBodyFault, "empty")
register(MalformedBodyFault, "malformed")
