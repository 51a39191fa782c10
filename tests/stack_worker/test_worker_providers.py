"""The seed's sync pairs across the three fakes: Strava -> Fitbit, Garmin -> Strava, Fitbit -> Strava."""
from __future__ import annotations

import collections
import uuid

import pytest

from .harness import wait_for


@pytest.mark.parametrize("source_name,destination_name", [("strava", "fitbit"), ("garmin", "strava"),
                                                          ("fitbit", "strava")])
def test_pair_syncs_every_source_workout_exactly_once(make_stack, request, source_name, destination_name):
    source_fake = request.getfixturevalue(source_name)
    destination_fake = request.getfixturevalue(destination_name)
    stack = make_stack(**{source_name: source_fake.url, destination_name: destination_fake.url})
    user_id = f"u_{uuid.uuid4().hex[:10]}"
    src_user = source_fake.control.create_user(history_days=4)
    dst_user = destination_fake.control.create_user(history_days=0)
    src = stack.add_connection(user_id, source_name, src_user)
    dst = stack.add_connection(user_id, destination_name, dst_user)
    stack.add_config(user_id, src, dst)
    expected = source_fake.control.user(src_user["user_id"])["visible_workouts"]
    assert expected > 0
    worker = stack.start_worker()
    job = stack.wait_job(user_id, stack.submit(stack.job_message(user_id, src, dst)))
    writes = destination_fake.control.writes(dst_user["user_id"])
    assert job["itemsWritten"] == expected == len(writes)
    assert max(collections.Counter(w["external_id"] for w in writes).values()) == 1
    # A retry from the old cursor (as after a crash before the state write, which comes back only after the
    # lease, longer than Strava's upload processing) finds everything already there.
    wait_for(lambda: destination_fake.control.user(dst_user["user_id"])["visible_workouts"] == expected, 30,
             what="the destination to finish processing the uploads")
    stack.put({**stack.config_item(user_id, src), "cursor": 0})
    again = stack.wait_job(user_id, stack.submit(stack.job_message(user_id, src, dst)))
    assert again["itemsWritten"] == expected and len(destination_fake.control.writes(dst_user["user_id"])) == expected
    assert worker.counters.snapshot()["items_written"] == expected
