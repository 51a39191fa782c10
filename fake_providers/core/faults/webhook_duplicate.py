"""webhook_duplicate: deliver a notification more than once. attributes: copies (extra copies, default 1)."""
from __future__ import annotations

import dataclasses

from . import register
from .base import Fault, Number


class WebhookDuplicateFault(Fault):
    type_name = "webhook_duplicate"
    phase = "webhook"
    description = "send each matching webhook delivery 1+N times"
    accepts = {"copies": Number(1, lo=1, hi=100, integer=True)}

    def on_webhook(self, delivery, emitter):
        out = [delivery]
        for i in range(self.attributes["copies"]):
            out.append(dataclasses.replace(delivery, copy=i + 1, meta={**delivery.meta, "duplicate_of": delivery.seq,
                                                                          "fault": self.name}))
        return out


register(WebhookDuplicateFault, "duplicate")
