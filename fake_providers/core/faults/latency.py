"""latency: delay the response. attributes: distribution fixed|uniform|lognormal; fixed: ms; uniform: min_ms,
max_ms; lognormal: median_ms, sigma (and optional max_ms cap)."""
from __future__ import annotations

import asyncio
import math
from statistics import NormalDist

from . import register
from .base import Fault, FaultDefinitionError, number, only

_N = NormalDist()


class LatencyFault(Fault):
    type_name = "latency"
    description = "delay responses: fixed, uniform or lognormal milliseconds"

    @classmethod
    def parse(cls, a: dict) -> dict:
        only(a, {"distribution", "ms", "min_ms", "max_ms", "median_ms", "sigma"}, cls.type_name)
        dist = a.get("distribution", "fixed")
        if dist == "fixed":
            return {"distribution": dist, "ms": number(a, "ms", required=True)}
        if dist == "uniform":
            lo, hi = number(a, "min_ms", required=True), number(a, "max_ms", required=True)
            if hi < lo:
                raise FaultDefinitionError("attribute 'max_ms' must be >= 'min_ms'")
            return {"distribution": dist, "min_ms": lo, "max_ms": hi}
        if dist == "lognormal":
            return {"distribution": dist, "median_ms": number(a, "median_ms", required=True, lo=0.001),
                    "sigma": number(a, "sigma", 0.5, hi=5), "max_ms": number(a, "max_ms")}
        raise FaultDefinitionError(f"attribute 'distribution' must be fixed, uniform or lognormal, got {dist!r}")

    def delay_ms(self) -> float:
        a = self.attributes
        if a["distribution"] == "fixed":
            return a["ms"]
        u = min(max(self.draw(), 1e-12), 1 - 1e-12)
        if a["distribution"] == "uniform":
            return a["min_ms"] + u * (a["max_ms"] - a["min_ms"])
        ms = a["median_ms"] * math.exp(a["sigma"] * _N.inv_cdf(u))
        return min(ms, a["max_ms"]) if a["max_ms"] else ms

    async def before(self, ctx):
        await asyncio.sleep(self.delay_ms() / 1000.0)
        return None


register(LatencyFault)
