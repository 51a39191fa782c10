"""Fake Strava API v3: models (state, no HTTP), routes (wire format), errors (Strava's error bodies)."""
