"""JSON logs, one object per line on stderr, with the job's correlation id on every line logged while it runs.

The correlation id lives in a ContextVar set per job (``correlation(cid)``), so library log lines emitted while a
job runs carry it too. Nothing here formats tokens: callers log ids and reasons, never secrets or payloads.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from typing import Iterator

_correlation: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)


@contextlib.contextmanager
def correlation(correlation_id: str | None) -> Iterator[None]:
    token = _correlation.set(correlation_id)
    try:
        yield
    finally:
        _correlation.reset(token)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": round(record.created, 3), "level": record.levelname, "service": self.service,
            "logger": record.name, "msg": record.getMessage()}
        cid = getattr(record, "correlationId", None) or _correlation.get()
        if cid:
            entry["correlationId"] = cid
        for key in ("jobId", "userId", "provider", "event", "reason", "delay_s", "receiveCount"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["error"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
        return json.dumps(entry, default=str)


def setup(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("botocore", "boto3", "urllib3", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.Formatter.converter = time.gmtime
