"""Fake Garmin Health / Activity API: models (state, no HTTP), routes (wire format), errors (Garmin's bodies)."""
