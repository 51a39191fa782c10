"""webhook_out_of_order: hold a delivery back until ``after`` later deliveries went out (or ``max_hold_seconds``
passed), so the subscriber sees it out of order. attributes: after (default 1), max_hold_seconds (default 5)."""
from __future__ import annotations

from . import register
from .base import Fault, Number


class WebhookOutOfOrderFault(Fault):
    type_name = "webhook_out_of_order"
    phase = "webhook"
    description = "hold a webhook delivery until N later ones were sent"
    accepts = {"after": Number(1, lo=1, hi=1000, integer=True), "max_hold_seconds": Number(5.0, hi=3600)}

    def on_webhook(self, delivery, emitter):
        delivery.meta["held_by"] = self.name
        emitter.hold(delivery, self.attributes["after"], self.attributes["max_hold_seconds"])
        return []


register(WebhookOutOfOrderFault, "out_of_order", "reorder")
