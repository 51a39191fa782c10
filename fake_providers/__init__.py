"""Fake Strava, Fitbit and Garmin servers for SyncWell Sim.

Run one as a process: ``python -m fake_providers --provider strava`` (prints a ``SWSIM-READY {...}`` line), or in
a test: ``from fake_providers.testing import run_fake``. Control it with ``fake_providers.control.FakeControl``.
"""
PROVIDERS = ("strava", "fitbit", "garmin")
