"""The shapes every SyncWell service agrees on: DynamoDB keys and items, queue messages, secret names.

One table, ``SyncWellMetadata`` (001 §3c): PK ``USER#{userId}`` with SKs ``PROFILE``, ``CONN#{connectionId}``,
``SYNCCONFIG#{sourceConnectionId}##{dataType}``, ``JOB#{jobId}``, ``EXPORT#{jobId}``; idempotency items live under
their own partition ``IDEM##{key}``; the API's Idempotency-Key records under ``APIKEY#{userId}##{key}``; a
provider's user id maps back to ours through ``PROVIDERUSER#{provider}#{providerUserId}``.
Every mutable item carries ``version`` (optimistic locking with conditional updates).

GSIs: ``ReAuthStatus-index`` (sparse: only connections needing re-auth carry ``ReAuthStatus``) and
``SyncTierShardId-NextSyncTimestamp-gsi`` for the scheduler (``SyncTierShardId`` = ``"{tier}#{shard}"`` with
shard = Murmur3_32(userId) % shards). TTL attribute: ``ttl`` (epoch seconds).
"""
from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

import mmh3

PK = "PK"
SK = "SK"
TTL_ATTRIBUTE = "ttl"
REAUTH_GSI = "ReAuthStatus-index"
SCHEDULER_GSI = "SyncTierShardId-NextSyncTimestamp-gsi"

DataType = Literal["workout", "sleep_session", "steps", "weight"]
DATA_TYPES: tuple[str, ...] = ("workout", "sleep_session", "steps", "weight")
SyncMode = Literal["manual", "historical"]
SYNC_MODES: tuple[str, ...] = ("manual", "historical")
Priority = Literal["high", "medium", "low"]
PRIORITIES: tuple[str, ...] = ("high", "medium", "low")
JobStatus = Literal["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "DEAD_LETTERED"]
ConnectionStatus = Literal["active", "needs_reauth", "revoked"]
ConflictStrategy = Literal["newest_wins", "source_wins", "dest_wins"]
Tier = Literal["PRO", "FREE"]


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def profile_sk() -> str:
    return "PROFILE"


def connection_sk(connection_id: str) -> str:
    return f"CONN#{connection_id}"


def sync_config_sk(source_connection_id: str, data_type: str) -> str:
    return f"SYNCCONFIG#{source_connection_id}##{data_type}"


def job_sk(job_id: str) -> str:
    return f"JOB#{job_id}"


def export_sk(job_id: str) -> str:
    return f"EXPORT#{job_id}"


def idempotency_pk(key: str) -> str:
    """The worker's exactly-once lock for one job (SK is the same string)."""
    return f"IDEM##{key}"


def api_key_pk(user_id: str, idempotency_key: str) -> str:
    """The API's record of an Idempotency-Key already answered for this user (SK is the same string)."""
    return f"APIKEY#{user_id}##{idempotency_key}"


def provider_user_pk(provider: str, provider_user_id: str) -> str:
    """Maps a provider's user id (in webhooks) to the SyncWell user (SK is the same string)."""
    return f"PROVIDERUSER#{provider}#{provider_user_id}"


def shard_of(user_id: str, shards: int = 16) -> int:
    """Murmur3_32 of the user id, unsigned, modulo the shard count."""
    return mmh3.hash(user_id, signed=False) % shards


def tier_shard_id(tier: str, user_id: str, shards: int = 16) -> str:
    return f"{tier}#{shard_of(user_id, shards)}"


def connection_secret_name(user_id: str, connection_id: str) -> str:
    """Secrets Manager secret holding one connection's ProviderTokens as JSON."""
    return f"syncwell/conn/{user_id}/{connection_id}"


def provider_app_secret_name(provider: str) -> str:
    """Secrets Manager secret holding the OAuth app's client_id/client_secret (and webhook verify codes)."""
    return f"syncwell/provider/{provider}"


class ProviderTokens(TypedDict):
    """A connection's OAuth tokens as stored in Secrets Manager. Never logged."""

    accessToken: str
    refreshToken: str
    expiresAt: int            # epoch seconds
    scope: NotRequired[str]
    providerUserId: str


class ProviderAppSecret(TypedDict):
    clientId: str
    clientSecret: str
    webhookVerifyToken: NotRequired[str]          # Strava hub.verify_token
    subscriberVerificationCode: NotRequired[str]  # Fitbit ?verify=CODE


class SyncJobMessage(TypedDict):
    """Body of a HotPathSyncQueue message (JSON). ``correlationId`` also travels as a message attribute."""

    jobId: str
    userId: str
    sourceConnectionId: str
    destinationConnectionId: str
    dataType: str
    mode: str
    priority: str
    idempotencyKey: str       # the worker's IDEM## lock key; from the client's header for manual syncs
    correlationId: str
    requestedAt: float        # epoch seconds, for end-to-end latency
    origin: Literal["manual", "webhook", "scheduler", "device"]


class WebhookMessage(TypedDict):
    """Body of a CoalescingBufferQueue.fifo message; MessageGroupId is the SyncWell userId."""

    provider: str
    providerUserId: str
    userId: str
    event: dict
    receivedAt: float
    correlationId: str


class ProfileItem(TypedDict):
    PK: str
    SK: str                   # "PROFILE"
    userId: str
    tier: str                 # PRO | FREE
    settings: dict
    version: int


class ConnectionItem(TypedDict):
    PK: str
    SK: str                   # CONN#{connectionId}
    connectionId: str         # "conn_<uuid hex>"
    userId: str
    provider: str             # strava | fitbit | garmin
    providerUserId: str
    displayName: str
    status: str               # ConnectionStatus
    secretName: str           # connection_secret_name(...)
    version: int
    ReAuthStatus: NotRequired[str]   # present (value "NEEDS_REAUTH") only when status == needs_reauth


class SyncConfigItem(TypedDict):
    PK: str
    SK: str                   # SYNCCONFIG#{sourceConnectionId}##{dataType}
    userId: str
    sourceConnectionId: str
    destinationConnectionId: str
    dataType: str
    conflictStrategy: str     # ConflictStrategy
    enabled: bool
    cursor: int               # epoch seconds of the newest source item already synced
    SyncTierShardId: str      # tier_shard_id(tier, userId)
    NextSyncTimestamp: int    # epoch seconds; the scheduler queries <= now
    version: int


class JobItem(TypedDict):
    PK: str
    SK: str                   # JOB#{jobId}
    jobId: str
    userId: str
    status: str               # JobStatus
    idempotencyKey: str
    sourceConnectionId: str
    destinationConnectionId: str
    dataType: str
    createdAt: float
    updatedAt: float
    progress: dict            # {totalChunks, processedChunks, failedChunks}
    itemsWritten: NotRequired[int]
    error: NotRequired[str]   # reason, when FAILED / DEAD_LETTERED
    version: int
