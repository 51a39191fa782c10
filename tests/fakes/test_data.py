"""Data endpoints: each provider's own pagination and range caps, detail and heavy payload sizes, new items
appearing as the fake clock moves, determinism for a seed."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from fake_providers.testing import run_fake

from .conftest import auth


def strava_all(http, fake, token, per_page=30, **params):
    out, page = [], 1
    while True:
        r = http.get(f"{fake.url}/api/v3/athlete/activities", headers=auth(token),
                     params={"page": page, "per_page": per_page, **params})
        assert r.status_code == 200, r.text
        batch = r.json()
        assert isinstance(batch, list)
        out.extend(batch)
        if len(batch) < per_page:
            return out
        page += 1


def test_strava_paginates_a_long_history(strava, http):
    u = strava.control.create_user(history_days=365)
    acts = strava_all(http, strava, u["access_token"], per_page=30)
    assert len(acts) > 100
    ids = [a["id"] for a in acts]
    assert len(set(ids)) == len(ids)
    starts = [a["start_date"] for a in acts]
    assert starts == sorted(starts, reverse=True)
    assert strava.control.user(u["user_id"])["visible_workouts"] == len(acts)
    a = acts[0]
    for field in ("id", "name", "type", "sport_type", "start_date", "start_date_local", "timezone", "utc_offset",
                  "distance", "moving_time", "elapsed_time", "total_elevation_gain", "map", "average_speed",
                  "has_heartrate", "manual", "trainer", "commute", "upload_id", "external_id"):
        assert field in a
    assert "summary_polyline" in a["map"]
    assert a["timezone"].startswith("(GMT")
    # after= gives oldest first; before/after filter on start time
    mid = acts[len(acts) // 2]
    from datetime import datetime
    t = int(datetime.fromisoformat(mid["start_date"].replace("Z", "+00:00")).timestamp())
    newer = strava_all(http, strava, u["access_token"], per_page=50, after=t)
    assert [x["id"] for x in newer] == [x["id"] for x in reversed(acts[: len(acts) // 2])]
    older = strava_all(http, strava, u["access_token"], per_page=200, before=t)
    assert [x["id"] for x in older] == [x["id"] for x in acts[len(acts) // 2 + 1:]]


def test_strava_per_page_cap(strava, http):
    u = strava.control.create_user(history_days=400)
    r = http.get(f"{strava.url}/api/v3/athlete/activities", headers=auth(u["access_token"]),
                 params={"per_page": 500})
    assert len(r.json()) == 200


def test_strava_detail_and_streams_sizes(strava, http):
    strava.control.set_config(heavy_bytes=200_000, light_bytes=8_000)
    u = strava.control.create_user(history_days=60)
    acts = strava_all(http, strava, u["access_token"], per_page=100)
    gps = next(a for a in acts if a["map"]["summary_polyline"])
    r = http.get(f"{strava.url}/api/v3/activities/{gps['id']}", headers=auth(u["access_token"]))
    assert r.status_code == 200
    assert abs(len(r.content) - 8_000) < 800
    d = r.json()
    assert d["resource_state"] == 3 and d["map"]["polyline"]
    r = http.get(f"{strava.url}/api/v3/activities/{gps['id']}/streams", headers=auth(u["access_token"]),
                 params={"keys": "time,latlng,distance,altitude,heartrate", "key_by_type": "true"})
    assert r.status_code == 200
    assert abs(len(r.content) - 200_000) < 10_000
    s = r.json()
    assert set(s) >= {"time", "latlng", "distance", "heartrate"}
    assert s["latlng"]["data"][0] and len(s["latlng"]["data"][0]) == 2
    assert s["time"]["series_type"] == "distance" and s["time"]["original_size"] == len(s["time"]["data"])
    times = s["time"]["data"]
    assert all(b > a for a, b in zip(times, times[1:]))
    r = http.get(f"{strava.url}/api/v3/activities/{gps['id']}/streams", headers=auth(u["access_token"]),
                 params={"keys": "time,heartrate"})
    assert isinstance(r.json(), list) and r.json()[0]["type"] in ("time", "distance", "heartrate")
    r = http.get(f"{strava.url}/api/v3/activities/999/streams", headers=auth(u["access_token"]))
    assert r.status_code == 404 and r.json()["message"] == "Record Not Found"


def test_new_items_appear_as_the_clock_moves(fake, http):
    fake.control.set_config(activities_per_day=3.0)
    u = fake.control.create_user(history_days=5)
    before = fake.control.user(u["user_id"])["visible_workouts"]
    fake.control.advance(3 * 86400)
    after = fake.control.user(u["user_id"])["visible_workouts"]
    assert after > before


def test_same_seed_same_data(http):
    docs = []
    for _ in range(2):
        with run_fake("strava", seed=99) as f:
            f.control.set_clock(1_790_000_000, frozen=True)
            u = f.control.create_user(user_id="123", history_days=30)
            docs.append(strava_all(http, f, u["access_token"], per_page=200))
    assert docs[0] == docs[1] and docs[0]
    with run_fake("strava", seed=100) as f:
        f.control.set_clock(1_790_000_000, frozen=True)
        u = f.control.create_user(user_id="123", history_days=30)
        assert strava_all(http, f, u["access_token"], per_page=200) != docs[0]


def test_fitbit_list_follows_next_links(fitbit, http):
    u = fitbit.control.create_user(history_days=200)
    url = f"{fitbit.url}/1/user/-/activities/list.json"
    params = {"beforeDate": "2100-01-01", "sort": "desc", "limit": 20, "offset": 0}
    seen, pages = [], 0
    while url:
        r = http.get(url, params=params, headers=auth(u["access_token"]))
        assert r.status_code == 200, r.text
        body = r.json()
        seen.extend(a["logId"] for a in body["activities"])
        url, params = body["pagination"]["next"], None
        pages += 1
    assert pages > 3 and len(seen) == len(set(seen)) == fitbit.control.user(u["user_id"])["visible_workouts"]
    a = body["activities"][-1] if body["activities"] else None
    r = http.get(f"{fitbit.url}/1/user/-/activities/list.json", headers=auth(u["access_token"]),
                 params={"afterDate": "2000-01-01", "sort": "asc", "limit": 5, "offset": 0})
    first = r.json()["activities"]
    assert [x["logId"] for x in first] == list(reversed(seen))[:5]
    for field in ("logId", "activityName", "activityTypeId", "startTime", "duration", "activeDuration", "calories",
                  "steps", "hasGps", "source", "lastModified"):
        assert field in first[0]
    assert a is None or "logId" in a


@pytest.mark.parametrize("params,field", [
    ({"sort": "desc", "limit": 10}, "beforeDate"),
    ({"beforeDate": "2100-01-01", "sort": "asc", "limit": 10}, "sort"),
    ({"beforeDate": "2100-01-01", "sort": "desc", "limit": 101}, "limit"),
])
def test_fitbit_list_validation(fitbit, http, params, field):
    u = fitbit.control.create_user()
    r = http.get(f"{fitbit.url}/1/user/-/activities/list.json", params=params, headers=auth(u["access_token"]))
    assert r.status_code == 400
    body = r.json()
    assert body["success"] is False and body["errors"][0]["errorType"] == "validation"
    assert body["errors"][0]["fieldName"] == field


def test_fitbit_tcx_heavy_payload(fitbit, http):
    u = fitbit.control.create_user(history_days=30)
    r = http.get(f"{fitbit.url}/1/user/-/activities/list.json", headers=auth(u["access_token"]),
                 params={"beforeDate": "2100-01-01", "sort": "desc", "limit": 100, "offset": 0})
    gps = next(a for a in r.json()["activities"] if a["hasGps"])
    r = http.get(f"{fitbit.url}/1/user/-/activities/{gps['logId']}.tcx", headers=auth(u["access_token"]))
    assert r.status_code == 200 and "tcx" in r.headers["Content-Type"]
    assert abs(len(r.content) - 500_000) < 25_000
    root = ET.fromstring(r.content)
    ns = {"t": "http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"}
    assert root.findall(".//t:Trackpoint/t:Position/t:LatitudeDegrees", ns)
    assert root.findall(".//t:Lap", ns)


def test_fitbit_sleep_steps_weight(fitbit, http):
    u = fitbit.control.create_user(history_days=120)
    h = auth(u["access_token"])
    r = http.get(f"{fitbit.url}/1.2/user/-/sleep/date/2026-01-01/2026-04-30.json", headers=h)
    assert r.status_code == 400  # > 100 days
    now = fitbit.control.now()
    from datetime import datetime, timezone, timedelta
    end = datetime.fromtimestamp(now, timezone.utc).date() - timedelta(days=1)
    start = end - timedelta(days=29)
    r = http.get(f"{fitbit.url}/1.2/user/-/sleep/date/{start}/{end}.json", headers=h)
    assert r.status_code == 200
    sl = r.json()["sleep"]
    assert len(sl) > 20
    for field in ("logId", "dateOfSleep", "startTime", "endTime", "duration", "efficiency", "isMainSleep",
                  "minutesAsleep", "type", "levels"):
        assert field in sl[0]
    assert {"summary", "data"} <= set(sl[0]["levels"])
    r = http.get(f"{fitbit.url}/1.2/user/-/sleep/list.json", headers=h,
                 params={"beforeDate": str(end), "sort": "desc", "limit": 10, "offset": 0})
    assert r.status_code == 200 and len(r.json()["sleep"]) == 10 and r.json()["pagination"]["next"]
    r = http.get(f"{fitbit.url}/1/user/-/activities/steps/date/{start}/{end}.json", headers=h)
    steps = r.json()["activities-steps"]
    assert len(steps) == 30 and all(isinstance(s["value"], str) for s in steps)
    assert http.get(f"{fitbit.url}/1/user/-/activities/steps/date/today/7d.json", headers=h).status_code == 200
    r = http.get(f"{fitbit.url}/1/user/-/body/log/weight/date/{start}/{end}.json", headers=h)
    assert r.status_code == 200
    w = r.json()["weight"]
    assert w and {"bmi", "date", "logId", "source", "time", "weight"} <= set(w[0])
    r = http.get(f"{fitbit.url}/1/user/-/body/log/weight/date/{start - timedelta(days=10)}/{end}.json", headers=h)
    assert r.status_code == 400  # > 31 days


def test_garmin_upload_windows(garmin, http):
    u = garmin.control.create_user(history_days=10)
    h = auth(u["access_token"])
    now = int(garmin.control.now())
    base = f"{garmin.url}/wellness-api/rest"
    total = 0
    for k in range(10):
        r = http.get(f"{base}/activities", headers=h, params={"uploadStartTimeInSeconds": now - (k + 1) * 86400,
                                                             "uploadEndTimeInSeconds": now - k * 86400})
        assert r.status_code == 200
        for a in r.json():
            for field in ("summaryId", "activityId", "activityName", "activityType", "startTimeInSeconds",
                          "startTimeOffsetInSeconds", "durationInSeconds", "distanceInMeters",
                          "activeKilocalories", "averageHeartRateInBeatsPerMinute",
                          "averageSpeedInMetersPerSecond", "deviceName", "manual"):
                assert field in a
        total += len(r.json())
    assert total > 3
    r = http.get(f"{base}/activities", headers=h, params={"uploadStartTimeInSeconds": now - 86401,
                                                         "uploadEndTimeInSeconds": now})
    assert r.status_code == 400 and "errorMessage" in r.json()
    r = http.get(f"{base}/activities", headers=h, params={"uploadStartTimeInSeconds": (now - 3600) * 1000,
                                                         "uploadEndTimeInSeconds": now * 1000})
    assert r.status_code == 400
    r = http.get(f"{base}/activities", headers=h, params={"uploadStartTimeInSeconds": now - 3600,
                                                         "uploadEndTimeInSeconds": now, "token": "nope"})
    assert r.status_code == 400 and "InvalidPullToken" in r.json()["errorMessage"]
    for t in ("dailies", "sleeps", "bodyComps"):
        r = http.get(f"{base}/{t}", headers=h, params={"uploadStartTimeInSeconds": now - 86400,
                                                      "uploadEndTimeInSeconds": now})
        assert r.status_code == 200 and isinstance(r.json(), list)


def test_garmin_activity_details_heavy(garmin, http):
    garmin.control.set_config(heavy_bytes=100_000, activities_per_day=3.0)
    u = garmin.control.create_user(history_days=3)
    h = auth(u["access_token"])
    now = int(garmin.control.now())
    r = http.get(f"{garmin.url}/wellness-api/rest/activityDetails", headers=h,
                 params={"uploadStartTimeInSeconds": now - 86400, "uploadEndTimeInSeconds": now})
    details = r.json()
    assert details, "expected activities in the last day at 3/day"
    assert abs(len(r.content) - 100_000 * len(details)) < 8_000 * len(details)
    d = details[0]
    assert d["samples"] and "startTimeInSeconds" in d["samples"][0] and "heartRate" in d["samples"][0]
    assert "laps" in d and d["summary"]["activityType"]


def test_user_disabled_summary_is_412(garmin, http):
    u = garmin.control.create_user()
    garmin.control.patch_user(u["user_id"], disabled_summaries=["sleeps"])
    now = int(garmin.control.now())
    r = http.get(f"{garmin.url}/wellness-api/rest/sleeps", headers=auth(u["access_token"]),
                 params={"uploadStartTimeInSeconds": now - 3600, "uploadEndTimeInSeconds": now})
    assert r.status_code == 412 and "errorMessage" in r.json()


def test_reseed_drops_cached_documents(strava, http):
    strava.control.set_clock(1_790_000_000, frozen=True)
    u = strava.control.create_user(user_id="777", history_days=20)
    a = strava_all(http, strava, u["access_token"], per_page=200)
    strava.control.seed(4321)
    b = strava_all(http, strava, u["access_token"], per_page=200)
    assert a != b



def test_heavy_sizing_survives_an_overhead_calibrated_on_a_bigger_document():
    """The per-sample calibration is shared by every document of a kind, but a TCX's fixed part grows with its lap
    count: calibrated on a 50-lap workout, a 1-lap one is smaller than the "fixed" part at any n. The correction
    step then divided by ~0 and built millions of samples (88 MB TCX bodies stalled the region rehearsal)."""
    from fake_providers.core.heavy import SizedCache

    def document(laps: int):
        return lambda n: b"H" * 300 + b"L" * (250 * laps) + b"P" * (240 * n)

    cache = SizedCache()
    cache.get(("tcx", "long"), 20_000, document(50), overhead_key=("tcx",))
    short = cache.get(("tcx", "short"), 20_000, document(1), overhead_key=("tcx",))
    assert 0.5 * 20_000 <= len(short) <= 1.5 * 20_000
