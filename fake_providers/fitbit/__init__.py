"""Fake Fitbit Web API: models (state, no HTTP), routes (wire format), errors (Fitbit's error bodies)."""
