"""Provider webhooks: handshakes, Fitbit signatures, resolution to SyncWell users, FIFO dedupe."""
from __future__ import annotations

import json
import time
import uuid

import pytest

from stack.api.webhooks import fitbit_signature

from .harness import app_secret

QUEUE = "CoalescingBufferQueue.fifo"


@pytest.fixture(scope="module", autouse=True)
def immediate_coalescing_queue(backend):
    """Deliver webhook messages without the production 60 s delay so the tests can read them."""
    sqs = backend.client("sqs")
    url = backend.queue_url(QUEUE)
    delay = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds"])["Attributes"]["DelaySeconds"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "0"})
    yield
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": delay})


def webhook_messages(backend) -> list[dict]:
    drained = backend.drain(QUEUE)
    return [{**json.loads(m["Body"]), "_group": m.get("Attributes", {}).get("MessageGroupId")} for m in drained]


def test_strava_subscription_validation(client, backend) -> None:
    token = app_secret(backend, "strava")["webhookVerifyToken"]
    ok = client.get("/webhooks/strava", params={"hub.mode": "subscribe", "hub.challenge": "15f7d1a91c1f40f8",
                                                "hub.verify_token": token})
    assert ok.status_code == 200 and ok.json() == {"hub.challenge": "15f7d1a91c1f40f8"}
    wrong = client.get("/webhooks/strava", params={"hub.mode": "subscribe", "hub.challenge": "x",
                                                   "hub.verify_token": "guess"})
    assert wrong.status_code == 403


def test_fitbit_subscriber_verification(client, backend) -> None:
    code = app_secret(backend, "fitbit")["subscriberVerificationCode"]
    assert client.get("/webhooks/fitbit", params={"verify": code}).status_code == 204
    assert client.get("/webhooks/fitbit", params={"verify": "wrong"}).status_code == 404


def test_fitbit_signed_notification_is_enqueued_for_the_user(client, backend, user) -> None:
    user_id, _ = user
    webhook_messages(backend)
    body = json.dumps([{"collectionType": "activities", "date": "2026-11-21", "ownerId": f"fitbit-{user_id}",
                        "ownerType": "user", "subscriptionId": "1"}]).encode()
    signature = fitbit_signature(app_secret(backend, "fitbit")["clientSecret"], body)
    response = client.post("/webhooks/fitbit", content=body,
                           headers={"X-Fitbit-Signature": signature, "Content-Type": "application/json"})
    assert response.status_code == 204
    messages = webhook_messages(backend)
    assert len(messages) == 1
    assert messages[0]["userId"] == user_id and messages[0]["provider"] == "fitbit"
    assert messages[0]["event"]["collectionType"] == "activities"


def test_fitbit_bad_signature_is_404_and_enqueues_nothing(client, backend, user) -> None:
    user_id, _ = user
    webhook_messages(backend)
    body = json.dumps([{"collectionType": "sleep", "date": "2026-11-21", "ownerId": f"fitbit-{user_id}",
                        "ownerType": "user", "subscriptionId": "1"}]).encode()
    forged = fitbit_signature("not-the-secret", body)
    for headers in ({"X-Fitbit-Signature": forged}, {}):
        response = client.post("/webhooks/fitbit", content=body, headers={**headers, "Content-Type": "application/json"})
        assert response.status_code == 404
    assert backend.queue_depth(QUEUE) == 0


def test_strava_event_duplicates_are_deduplicated(client, backend, user) -> None:
    user_id, _ = user
    webhook_messages(backend)
    event = {"object_type": "activity", "object_id": 1360128428, "aspect_type": "create", "updates": {},
             "owner_id": f"strava-{user_id}", "subscription_id": 120475, "event_time": int(time.time())}
    for _ in range(3):                                       # Strava retries up to 3 times
        assert client.post("/webhooks/strava", json=event).status_code == 200
    messages = webhook_messages(backend)
    assert len(messages) == 1 and messages[0]["userId"] == user_id and messages[0]["_group"] == user_id


def test_garmin_ping_push_and_unknown_users(client, backend) -> None:
    owner = f"g{uuid.uuid4().hex[:10]}"
    backend.add_user(owner, ("garmin", "strava"))
    webhook_messages(backend)
    ping = {"activities": [{"userId": f"garmin-{owner}", "callbackURL": "https://apis.garmin.com/x?token=1"}],
            "dailies": [{"userId": "garmin-nobody", "callbackURL": "https://apis.garmin.com/y?token=2"}]}
    push = {"activityDetails": [{"userId": f"garmin-{owner}", "summaryId": "s-1", "samples": [{"heartRate": 120}] * 50}]}
    assert client.post("/webhooks/garmin", json=ping).status_code == 200
    assert client.post("/webhooks/garmin", json=push).status_code == 200
    messages = webhook_messages(backend)
    assert sorted(m["event"]["summaryType"] for m in messages) == ["activities", "activityDetails"]
    assert all(m["userId"] == owner for m in messages)
    assert all("samples" not in m["event"] for m in messages)


@pytest.mark.parametrize("path,content", [("/webhooks/strava", b"nope"), ("/webhooks/strava", b"{}"),
                                          ("/webhooks/garmin", b"[1]"), ("/webhooks/garmin", b'{"a": [1]}')])
def test_malformed_webhooks_are_400(client, path, content) -> None:
    response = client.post(path, content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
