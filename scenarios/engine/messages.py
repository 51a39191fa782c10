"""Custom Locust messages between the master and its workers (payloads are msgpack-able dicts)."""
from __future__ import annotations

SETUP = "swsim_setup"  # master -> worker: target, builders, kinds, settings, part id
SETUP_OK = "swsim_setup_ok"  # worker -> master
SETUP_FAILED = "swsim_setup_failed"  # worker -> master: {"part_id", "error"}
START = "swsim_start"  # master -> worker: {"delay_s"}; the worker's t0 is that long after receipt
EVENTS = "swsim_events"  # master -> worker: {"data": raw schedule records}
END = "swsim_end"  # master -> worker: no more events
STOP = "swsim_stop"  # master -> worker: fire nothing more (the run was stopped early)
PROGRESS = "swsim_progress"  # worker -> master: counters and an encoded progress histogram
FINAL = "swsim_final"  # worker -> master: the worker's whole recorder (HDR histograms encoded)
