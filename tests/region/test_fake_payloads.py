"""The rehearsal's fake-provider config keeps every heavy payload near its size target.

The full-form rehearsal once failed ``stranded_jobs_finish_after_recovery`` because at ``heavy_bytes: 20_000`` the
fake Fitbit served some GPS TCX bodies of tens of MB (its size correction overshoots when the target is close to
the TCX's lap overhead): the workers spent minutes parsing one, their 10 s leases ran out and jobs piled up
QUEUED or went to the DLQ. In-process fakes, no stack: a few seconds.
"""
from __future__ import annotations

from typing import Any, Callable

import pytest

from fake_providers.core.state import ProviderState
from fake_providers.fitbit.models import FitbitState
from fake_providers.garmin.models import GarminState
from fake_providers.strava.models import StravaState
from stack.region.rehearsal import FAKE_CONFIG

USERS = 40           # the full form's seeded users
STREAM_KEYS = ["time", "latlng", "distance", "altitude", "heartrate"]


def _fake_config(provider: str) -> dict[str, Any]:
    """What the launcher gives this fake (stack.launcher.services.fake_spec): the shared keys and its own."""
    own = {k: v for k, v in FAKE_CONFIG.items() if k != "providers"}
    own.update(FAKE_CONFIG.get("providers", {}).get(provider, {}))
    return own


HEAVY: dict[str, tuple[type[ProviderState], Callable[[Any, Any, Any], bytes]]] = {
    "fitbit": (FitbitState, lambda state, user, w: state.tcx_bytes(w)),
    "strava": (StravaState, lambda state, user, w: state.streams_bytes(w, STREAM_KEYS, True, None, "distance")),
    "garmin": (GarminState, lambda state, user, w: state.activity_detail_bytes(w, user.user_id)),
}


@pytest.mark.parametrize("provider", sorted(HEAVY))
def test_heavy_payloads_stay_near_the_target(provider: str) -> None:
    cls, body = HEAVY[provider]
    state = cls(_fake_config(provider))
    target = int(state.config["heavy_bytes"])
    users = [state.create_user()[0] for _ in range(USERS)]
    sizes = [len(body(state, user, w)) for user in users for w in state.workouts(user)]
    assert sizes, "the fake generated no workouts to fetch"
    oversized = [s for s in sizes if s > 2 * target]
    assert not oversized, (f"{provider}: {len(oversized)} of {len(sizes)} heavy bodies over twice the "
                           f"{target}-byte target (largest {max(sizes)} bytes): raise FAKE_CONFIG's heavy_bytes")
