"""rate_limit_storm (alias 429_storm): answer 429 with the provider's own rate-limit body and headers, with or
without Retry-After. attributes: retry_after (seconds; omit or null for none)."""
from __future__ import annotations

from ..errors import ProviderError
from . import register
from .base import Fault, Number


class RateLimitStormFault(Fault):
    type_name = "rate_limit_storm"
    description = "429 with the provider's rate-limit body/headers, with or without Retry-After"
    accepts = {"retry_after": Number(None, integer=True)}

    async def before(self, ctx):
        ra = self.attributes["retry_after"]
        raise ProviderError(429, "rate_limited", None, headers={"Retry-After": str(ra)} if ra is not None else None,
                            detail={"storm": True, "fault": self.name})


register(RateLimitStormFault, "429_storm", "storm")
