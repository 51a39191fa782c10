"""Webhooks: Strava's hub.challenge handshake and events, Fitbit's verify codes and signed notification arrays,
Garmin's ping (callbackURL pull) and push; emission on the control API and when new data appears."""
from __future__ import annotations

import time

from fake_providers.testing import WebhookReceiver, fitbit_signature, verify_fitbit_signature

from .conftest import CLIENT_ID, CLIENT_SECRET, auth


def test_strava_subscription_handshake_and_events(strava, http):
    with WebhookReceiver(verify_token="tok") as rx:
        r = http.post(f"{strava.url}/api/v3/push_subscriptions",
                      data={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "callback_url": rx.url,
                            "verify_token": "wrong"})
        assert r.status_code == 400
        assert r.json()["errors"][0]["field"] == "callback url"
        r = http.post(f"{strava.url}/api/v3/push_subscriptions",
                      data={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "callback_url": rx.url,
                            "verify_token": "tok"})
        assert r.status_code == 201, r.text
        sub_id = r.json()["id"]
        hs = rx.handshakes[-1]
        assert hs["hub.mode"] == "subscribe" and hs["hub.verify_token"] == "tok" and hs["hub.challenge"]
        r = http.post(f"{strava.url}/api/v3/push_subscriptions",
                      data={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "callback_url": rx.url,
                            "verify_token": "tok"})
        assert r.status_code == 400      # one per application
        listed = http.get(f"{strava.url}/api/v3/push_subscriptions",
                          params={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}).json()
        assert listed[0]["id"] == sub_id and listed[0]["callback_url"] == rx.url

        u = strava.control.create_user(history_days=2)
        res = strava.control.emit_webhook(u["user_id"], object_type="activity", aspect_type="update",
                                          updates={"title": "New name"})
        assert res["deliveries"][0]["outcome"] == "delivered"
        ev = rx.wait_for(1)[0]["json"]
        assert ev["object_type"] == "activity" and ev["aspect_type"] == "update"
        assert ev["updates"] == {"title": "New name"} and ev["subscription_id"] == sub_id
        assert ev["owner_id"] == int(u["user_id"]) and isinstance(ev["event_time"], int)

        # new data appearing as the clock moves emits create events
        strava.control.set_config(activities_per_day=4.0)
        strava.control.advance(2 * 86400)
        got = rx.wait_for(2, timeout=10)
        creates = [x["json"] for x in got if x["json"]["aspect_type"] == "create"]
        assert creates and all(c["object_type"] == "activity" for c in creates)
        # the activity announced is fetchable
        fresh = strava.control.new_tokens(u["user_id"])["access_token"]
        r = http.get(f"{strava.url}/api/v3/activities/{creates[0]['object_id']}", headers=auth(fresh))
        assert r.status_code == 200

        # revocation: athlete update with authorized=false
        strava.control.revoke(u["user_id"])
        deadline = time.time() + 10
        athlete = []
        while not athlete and time.time() < deadline:
            athlete = [x["json"] for x in rx.received if x["json"]["object_type"] == "athlete"]
            time.sleep(0.05)
        assert athlete and athlete[0]["aspect_type"] == "update"
        assert athlete[0]["updates"] == {"authorized": "false"}


def test_strava_retries_up_to_three_attempts(strava, http):
    with WebhookReceiver(status=500) as rx:
        strava.control.set_config(webhook_url=rx.url, webhook_retry_backoff_seconds=0.01)
        u = strava.control.create_user()
        res = strava.control.emit_webhook(u["user_id"])
        assert res["deliveries"][0]["outcome"] == "rejected" and res["deliveries"][0]["attempt"] == 3
        assert len(rx.received) == 3


def test_fitbit_verification_and_signed_notifications(fitbit, http):
    secret = fitbit.control.config()["signing_secret"]
    with WebhookReceiver(verify_code="code-123", fitbit_secret=secret) as rx:
        fitbit.control.set_config(webhook_url=rx.url, verify_code="code-123")
        v = fitbit.control.verify_subscriber()
        assert v == {"verified": True, "correct_status": 204, "incorrect_status": 404, "url": rx.url}
        assert [h["verify"] for h in rx.handshakes] == ["code-123", "code-123-wrong"]
        assert fitbit.control.verify_subscriber(code="other")["verified"] is False

        u = fitbit.control.create_user(history_days=3)
        r = http.post(f"{fitbit.url}/1/user/-/activities/apiSubscriptions/sub-1.json",
                      headers={**auth(u["access_token"]), "Content-Length": "0"})
        assert r.status_code == 201
        assert r.json() == {"collectionType": "activities", "ownerId": u["user_id"], "ownerType": "user",
                            "subscriberId": "1", "subscriptionId": "sub-1"}
        res = fitbit.control.emit_webhook(u["user_id"], collection="activities", date="2026-01-05")
        assert res["deliveries"][0]["status"] == 204
        got = rx.wait_for(1)[0]
        assert got["signature_ok"] is True
        assert got["json"] == [{"collectionType": "activities", "date": "2026-01-05", "ownerId": u["user_id"],
                                "ownerType": "user", "subscriptionId": "sub-1"}]
        sig = got["headers"]["X-Fitbit-Signature"]
        assert verify_fitbit_signature(got["raw"], sig, secret)
        assert sig == fitbit_signature(got["raw"], secret)
        assert not verify_fitbit_signature(got["raw"], sig, "not-the-secret")

        # a weight log triggers a body notification; several users' notifications batch into one array
        fitbit.control.set_config(activities_per_day=5.0)
        others = fitbit.control.create_users(3, prefix="fb")
        n = len(rx.received)
        fitbit.control.advance(86400)
        time.sleep(1.5)
        batches = [x["json"] for x in rx.received[n:]]
        entries = [e for b in batches for e in b]
        assert {e["ownerId"] for e in entries} >= {o["user_id"] for o in others}
        assert any(len(b) > 1 for b in batches)
        assert all(x["signature_ok"] for x in rx.received)


def test_fitbit_signature_mismatch_is_rejected(fitbit):
    with WebhookReceiver(fitbit_secret="receiver-expects-this") as rx:
        fitbit.control.set_config(webhook_url=rx.url, webhook_attempts=1)
        u = fitbit.control.create_user()
        res = fitbit.control.emit_webhook(u["user_id"])
        assert res["deliveries"][0]["status"] == 404 and res["deliveries"][0]["outcome"] == "rejected"
        # configuring the shared client secret makes the signatures match
        fitbit.control.set_config(client_secret="receiver-expects-this")
        assert fitbit.control.emit_webhook(u["user_id"])["deliveries"][0]["status"] == 204


def test_fitbit_require_subscription(fitbit):
    with WebhookReceiver() as rx:
        fitbit.control.set_config(webhook_url=rx.url, webhook_require_subscription=True, activities_per_day=5.0)
        fitbit.control.create_user()
        fitbit.control.advance(2 * 86400)
        time.sleep(1.2)
        assert rx.received == []


def test_garmin_ping_then_pull_and_push(garmin, http):
    with WebhookReceiver() as rx:
        garmin.control.set_config(webhook_url=rx.url, activities_per_day=4.0, heavy_bytes=20_000)
        u = garmin.control.create_user(history_days=1)
        garmin.control.advance(86400)
        got = rx.wait_for(2, timeout=10)
        pings = [g for g in got if "activities" in (g["json"] or {})]
        assert pings, [g["json"] for g in got]
        g = pings[0]
        assert g["headers"]["user-agent"] == "Garmin Health API" and "garmin-client-id" in g["headers"]
        entry = g["json"]["activities"][0]
        assert entry["userId"] == u["user_id"]
        tok = garmin.control.new_tokens(u["user_id"])["access_token"]
        r = http.get(entry["callbackURL"], headers=auth(tok))
        assert r.status_code == 200 and r.json() and r.json()[0]["userId"] == u["user_id"]
        details = [g for g in got if "activityDetails" in (g["json"] or {})]
        if details:
            r = http.get(details[0]["json"]["activityDetails"][0]["callbackURL"], headers=auth(tok))
            assert r.json()[0]["samples"]

        n = len(rx.received)
        res = garmin.control.emit_webhook(u["user_id"], summary_type="dailies", mode="push")
        assert res["deliveries"][0]["outcome"] == "delivered"
        body = rx.received[n]["json"]
        assert body["dailies"] and body["dailies"][0]["userId"] == u["user_id"]

        n = len(rx.received)
        garmin.control.revoke(u["user_id"])
        rx.wait_for(n + 1)
        assert rx.received[n]["json"] == {"deregistrations": [{"userId": u["user_id"]}]}


def test_garmin_backfill_202_then_409(garmin, http):
    with WebhookReceiver() as rx:
        garmin.control.set_config(webhook_url=rx.url)
        u = garmin.control.create_user(history_days=30)
        now = int(garmin.control.now())
        params = {"summaryStartTimeInSeconds": now - 10 * 86400, "summaryEndTimeInSeconds": now - 8 * 86400}
        r = http.get(f"{garmin.url}/wellness-api/rest/backfill/dailies", params=params,
                     headers=auth(u["access_token"]))
        assert r.status_code == 202 and r.content == b""
        r = http.get(f"{garmin.url}/wellness-api/rest/backfill/dailies", params=params,
                     headers=auth(u["access_token"]))
        assert r.status_code == 409 and "errorMessage" in r.json()
        got = rx.wait_for(2)
        url = got[0]["json"]["dailies"][0]["callbackURL"]
        days = http.get(url, headers=auth(u["access_token"])).json()
        assert len(days) == 1 and days[0]["startTimeInSeconds"] >= params["summaryStartTimeInSeconds"]


def test_user_id_and_deregistration(garmin, http):
    u = garmin.control.create_user()
    r = http.get(f"{garmin.url}/wellness-api/rest/user/id", headers=auth(u["access_token"]))
    assert r.json() == {"userId": u["user_id"]}
    r = http.delete(f"{garmin.url}/wellness-api/rest/user/registration", headers=auth(u["access_token"]))
    assert r.status_code == 204
    r = http.get(f"{garmin.url}/wellness-api/rest/user/id", headers=auth(u["access_token"]))
    assert r.status_code == 403
