"""Each provider's own rate limits: windows on the fake clock, headers, 429 bodies, configurable numbers."""
from __future__ import annotations

from .conftest import auth, data_call


def test_strava_windows_headers_and_body(strava, http):
    strava.control.set_config(rate_limits={"overall_15min": 5, "overall_daily": 8, "read_15min": 4,
                                           "read_daily": 100})
    strava.control.set_clock(1_800_000_000 - 1_800_000_000 % 900 + 10, frozen=True)   # 10 s into a window
    u = strava.control.create_user()
    codes = []
    for _ in range(4):
        r = data_call(http, strava, u["access_token"])
        codes.append(r.status_code)
    assert codes == [200] * 4
    assert r.headers["X-RateLimit-Limit"] == "5,8"
    assert r.headers["X-RateLimit-Usage"] == "4,4"
    assert r.headers["X-ReadRateLimit-Limit"] == "4,100"
    assert r.headers["X-ReadRateLimit-Usage"] == "4,4"
    r = data_call(http, strava, u["access_token"])        # 5th read: over the read limit
    assert r.status_code == 429
    assert r.json() == {"message": "Rate Limit Exceeded",
                        "errors": [{"resource": "Application", "field": "rate limit", "code": "exceeded"}]}
    assert "Retry-After" not in r.headers
    assert r.headers["X-ReadRateLimit-Usage"] == "5,5"
    # next 15-minute window (aligned): reads allowed again, refused requests still counted in the daily window
    strava.control.advance(900)
    r = data_call(http, strava, u["access_token"])
    assert r.status_code == 200 and r.headers["X-RateLimit-Usage"] == "1,6"
    for _ in range(2):
        data_call(http, strava, u["access_token"])
    r = data_call(http, strava, u["access_token"])         # daily overall 9 > 8
    assert r.status_code == 429 and r.headers["X-RateLimit-Usage"].endswith(",9")
    strava.control.advance(86400)                            # the daily window resets at midnight UTC
    fresh = strava.control.new_tokens(u["user_id"])          # (the 6 h access token expired meanwhile)
    assert data_call(http, strava, fresh["access_token"]).status_code == 200


def test_strava_retry_after_configurable(strava, http):
    strava.control.set_config(rate_limits={"read_15min": 1, "retry_after": 120})
    u = strava.control.create_user()
    data_call(http, strava, u["access_token"])
    r = data_call(http, strava, u["access_token"])
    assert r.status_code == 429 and r.headers["Retry-After"] == "120"


def test_strava_uploads_are_not_reads(strava, http):
    strava.control.set_config(rate_limits={"read_15min": 1, "overall_15min": 10})
    u = strava.control.create_user()
    assert data_call(http, strava, u["access_token"]).status_code == 200
    r = http.post(f"{strava.url}/api/v3/activities", headers=auth(u["access_token"]),
                  data={"name": "n", "sport_type": "Run", "start_date_local": "2026-01-01T07:00:00Z",
                        "elapsed_time": 60})
    assert r.status_code == 201


def test_fitbit_hourly_window_per_user(fitbit, http):
    fitbit.control.set_config(rate_limits={"per_hour": 3})
    fitbit.control.set_clock(1_800_000_000 - 1_800_000_000 % 3600 + 600, frozen=True)
    a, b = fitbit.control.create_user(), fitbit.control.create_user()
    for i in range(3):
        r = data_call(http, fitbit, a["access_token"])
        assert r.status_code == 200
        assert r.headers["Fitbit-Rate-Limit-Limit"] == "3"
        assert r.headers["Fitbit-Rate-Limit-Remaining"] == str(2 - i)
        assert r.headers["Fitbit-Rate-Limit-Reset"] == "3000"
    r = data_call(http, fitbit, a["access_token"])
    assert r.status_code == 429
    assert r.json() == {"errors": [{"errorType": "system", "message": "Too Many Requests"}], "success": False}
    assert r.headers["Fitbit-Rate-Limit-Remaining"] == "0"
    assert data_call(http, fitbit, b["access_token"]).status_code == 200     # per user
    fitbit.control.advance(3000)                                           # top of the hour
    assert data_call(http, fitbit, a["access_token"]).status_code == 200


def test_garmin_configurable_limit_no_headers(garmin, http):
    garmin.control.set_config(rate_limits={"per_minute": 2})
    u = garmin.control.create_user()
    assert [data_call(http, garmin, u["access_token"]).status_code for _ in range(2)] == [200, 200]
    r = data_call(http, garmin, u["access_token"])
    assert r.status_code == 429 and "errorMessage" in r.json()
    assert not any(k.lower().startswith("x-ratelimit") for k in r.headers)
    garmin.control.set_config(rate_limits={"enabled": False})
    assert data_call(http, garmin, u["access_token"]).status_code == 200
