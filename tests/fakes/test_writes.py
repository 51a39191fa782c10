"""Write endpoints and the write log: Strava activities and uploads (processing -> ready), Fitbit activity and
weight logs (411 without Content-Length), payload identities that expose duplicate writes."""
from __future__ import annotations

import gzip
import socket
from urllib.parse import urlparse

from .conftest import auth

TCX = b"""<?xml version="1.0"?><TrainingCenterDatabase><Activities><Activity Sport="Running"><Id>2026-01-01T07:00:00Z</Id>
<Lap><Track><Trackpoint><Time>2026-01-01T07:00:00Z</Time></Trackpoint><Trackpoint><Time>2026-01-01T07:45:00Z</Time>
</Trackpoint></Track></Lap></Activity></Activities></TrainingCenterDatabase>"""


def test_strava_create_activity_and_write_log(strava, http):
    u = strava.control.create_user(history_days=3)
    form = {"name": "Evening Spin", "sport_type": "Ride", "start_date_local": "2026-01-02T18:00:00Z",
            "elapsed_time": "3600", "distance": "30000", "trainer": "1"}
    r = http.post(f"{strava.url}/api/v3/activities", data=form, headers=auth(u["access_token"]))
    assert r.status_code == 201, r.text
    act = r.json()
    assert act["name"] == "Evening Spin" and act["sport_type"] == "Ride" and act["manual"] is True
    assert act["trainer"] is True and act["elapsed_time"] == 3600
    r = http.get(f"{strava.url}/api/v3/activities/{act['id']}", headers=auth(u["access_token"]))
    assert r.status_code == 200
    r = http.post(f"{strava.url}/api/v3/activities", data=form, headers=auth(u["access_token"]))
    writes = strava.control.writes()
    assert len(writes) == 2
    assert writes[0]["identity"] == writes[1]["identity"]
    assert writes[0]["route"] == "POST /api/v3/activities" and writes[0]["user_id"] == u["user_id"]
    r = http.post(f"{strava.url}/api/v3/activities", data={"name": "x"}, headers=auth(u["access_token"]))
    assert r.status_code == 400 and r.json()["message"] == "Bad Request"


def test_strava_write_needs_scope(strava, http):
    u = strava.control.create_user(scopes=["read", "activity:read"])
    r = http.post(f"{strava.url}/api/v3/activities", data={"name": "x"}, headers=auth(u["access_token"]))
    assert r.status_code == 401
    assert r.json()["errors"][0] == {"resource": "AccessToken", "field": "activity:write_permission",
                                     "code": "missing"}


def test_strava_upload_processing_then_ready(strava, http):
    strava.control.set_config(upload_processing_seconds=30)
    u = strava.control.create_user(history_days=1)
    h = auth(u["access_token"])
    files = {"file": ("run.tcx.gz", gzip.compress(TCX), "application/octet-stream")}
    r = http.post(f"{strava.url}/api/v3/uploads", files=files, data={"data_type": "tcx.gz", "external_id": "ext-1"},
                  headers=h)
    assert r.status_code == 201, r.text
    up = r.json()
    assert set(up) == {"id", "id_str", "external_id", "error", "status", "activity_id"}
    assert up["status"] == "Your activity is still being processed." and up["activity_id"] is None
    assert up["external_id"] == "ext-1"
    r = http.get(f"{strava.url}/api/v3/uploads/{up['id']}", headers=h)
    assert r.json()["status"] == "Your activity is still being processed."
    strava.control.advance(31)
    done = http.get(f"{strava.url}/api/v3/uploads/{up['id']}", headers=h).json()
    assert done["status"] == "Your activity is ready." and done["activity_id"]
    act = http.get(f"{strava.url}/api/v3/activities/{done['activity_id']}", headers=h).json()
    assert act["external_id"] == "ext-1" and act["elapsed_time"] == 45 * 60
    # the same file again: Strava's duplicate error once processed
    r = http.post(f"{strava.url}/api/v3/uploads", files=files, data={"data_type": "tcx.gz", "external_id": "ext-1"},
                  headers=h)
    strava.control.advance(31)
    dup = http.get(f"{strava.url}/api/v3/uploads/{r.json()['id']}", headers=h).json()
    assert dup["error"] and "duplicate of activity" in dup["error"]
    w = [x for x in strava.control.writes() if x["route"] == "POST /api/v3/uploads"]
    assert len(w) == 2 and w[0]["identity"] == w[1]["identity"] and w[0]["external_id"] == "ext-1"
    r = http.post(f"{strava.url}/api/v3/uploads", files=files, data={"data_type": "doc"}, headers=h)
    assert r.status_code == 400


def test_strava_athlete_weight(strava, http):
    u = strava.control.create_user()
    r = http.put(f"{strava.url}/api/v3/athlete", data={"weight": "71.5"}, headers=auth(u["access_token"]))
    assert r.status_code == 200 and r.json()["weight"] == 71.5
    assert strava.control.writes()[0]["route"] == "PUT /api/v3/athlete"


def test_fitbit_activity_and_weight_logs(fitbit, http):
    u = fitbit.control.create_user(history_days=2)
    h = auth(u["access_token"])
    r = http.post(f"{fitbit.url}/1/user/-/activities.json", headers=h,
                  params={"activityName": "Rowing", "manualCalories": 300, "startTime": "07:30",
                          "durationMillis": 1800000, "date": "2026-01-05", "distance": 5})
    assert r.status_code == 201, r.text
    log = r.json()["activityLog"]
    assert log["logId"] and log["duration"] == 1800000
    r = http.post(f"{fitbit.url}/1/user/-/body/log/weight.json", headers=h,
                  params={"weight": 72.4, "date": "2026-01-05", "time": "07:00:00"})
    assert r.status_code == 201
    assert r.json()["weightLog"]["weight"] == 72.4 and r.json()["weightLog"]["source"] == "API"
    r = http.get(f"{fitbit.url}/1/user/-/body/log/weight/date/2026-01-05.json", headers=h)
    assert any(x["source"] == "API" for x in r.json()["weight"])
    r = http.post(f"{fitbit.url}/1/user/-/activities.json", headers=h, params={"date": "2026-01-05"})
    assert r.status_code == 400 and r.json()["errors"][0]["errorType"] == "validation"
    routes = [w["route"] for w in fitbit.control.writes()]
    assert routes == ["POST /1/user/-/activities.json", "POST /1/user/-/body/log/weight.json"]


def test_fitbit_411_without_content_length(fitbit):
    u = fitbit.control.create_user()
    host = urlparse(fitbit.url)
    s = socket.create_connection((host.hostname, host.port), timeout=5)
    req = (f"POST /1/user/-/body/log/weight.json?weight=70&date=2026-01-05 HTTP/1.1\r\nHost: x\r\n"
           f"Authorization: Bearer {u['access_token']}\r\nConnection: close\r\n\r\n").encode()
    s.sendall(req)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 411"), head
    assert b'"success":false' in body
    assert fitbit.control.writes() == []
