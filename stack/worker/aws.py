"""AWS clients for the hot path: the wire client (stack/awswire/client.py) over a trimmed boto3 client.

``SWSIM_WORKER_CLIENT=boto3`` in the worker's environment turns the wire client off: every call then goes
through the trimmed boto3 client below, as before the wire client existed (default ``wire``). S3 (REST, not
JSON) always uses boto3.

The boto3 client (still the fallback for operations the wire client does not send, and for S3). Measured before
the wire client: a botocore call costs ~3 ms of worker CPU on this machine (measured against moto: 3.1 ms per GetItem with the
default client, 1.2 ms for the same request sent raw with urllib3), and a sync makes ~2.5 of them, so the
client's own overhead is most of the worker's CPU per sync. What is trimmed, and why it is safe:

- parameter validation (``parameter_validation=False``): every request is built by this code from typed values,
  and the service still rejects a malformed request (a ``ClientError`` like any other);
- the User-Agent string: botocore rebuilds it twice per request (once when the request dict is built, once more
  in a ``request-created`` hook to add "feature ids"); here it is computed once per client and reused.

One client per service per process (clients are thread-safe), with a connection pool as large as the threads
that share it, so no call waits for, or re-opens, a connection.
"""
from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from stack.awswire import lean
from stack.config import StackConfig


CLIENT_SWITCH = "SWSIM_WORKER_CLIENT"
CONNECT_TIMEOUT_S = 2
READ_TIMEOUT_S = 10
MAX_ATTEMPTS = 2


def hot_path_client(service: str, config: StackConfig, pool: int = 50) -> Any:
    """One client per service per process; short timeouts so an AWS outage turns into fast transient errors."""
    client = boto3.client(service, region_name=config.region, config=Config(
        max_pool_connections=pool, connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S,
        parameter_validation=False, retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS}))
    return lean(client, switch_env=CLIENT_SWITCH, pool=pool, connect_timeout=CONNECT_TIMEOUT_S,
                read_timeout=READ_TIMEOUT_S, max_attempts=MAX_ATTEMPTS)
