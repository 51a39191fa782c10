"""Seeds users for a local stack: profiles, provider connections with real tokens from the fakes, sync configs,
and the provider-user mapping items webhooks need.

Each user ``i`` gets one source->destination pair (rotating over :data:`SYNC_PAIRS`): two connections whose tokens
were issued by the fake providers (``POST /_fake/users/bulk``) and stored in Secrets Manager as
:class:`stack.schema.ProviderTokens`, a ``SYNCCONFIG`` item for the pair (tier PRO for ``pro_share`` of users, the
rest FREE, next sync time spread over the tier's interval), and ``PROVIDERUSER#`` items mapping each provider user
back to the SyncWell user. Everything is deterministic for a given ``seed``.
"""
from __future__ import annotations

import json
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

from stack import schema
from stack.config import StackConfig

SYNC_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("strava", "fitbit", "workout"),
    ("garmin", "strava", "workout"),
    ("fitbit", "strava", "workout"),
)
ID_NAMESPACE = uuid.UUID("6f1c3c2e-9a57-4a8e-b5a4-2f4d6cbb1e01")
BATCH_WRITE_SIZE = 25
PARALLEL_CALLS = 8


@dataclass(frozen=True)
class SeededConnection:
    connection_id: str
    provider: str
    provider_user_id: str


@dataclass(frozen=True)
class SeededPair:
    source_connection_id: str
    destination_connection_id: str
    source_provider: str
    destination_provider: str
    data_type: str


@dataclass(frozen=True)
class SeededUser:
    user_id: str
    tier: str
    connections: tuple[SeededConnection, ...]
    pairs: tuple[SeededPair, ...]

    def connection(self, provider: str) -> SeededConnection:
        return next(c for c in self.connections if c.provider == provider)


@dataclass
class SeedResult:
    users: list[SeededUser] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> list[dict[str, Any]]:
        return [asdict(user) for user in self.users]

    @classmethod
    def from_json(cls, users: Sequence[Mapping[str, Any]], seconds: float = 0.0) -> "SeedResult":
        """The inverse of :meth:`to_json` (the provisioning process hands its result to the launcher)."""
        return cls([SeededUser(u["user_id"], u["tier"], tuple(SeededConnection(**c) for c in u["connections"]),
                               tuple(SeededPair(**p) for p in u["pairs"])) for u in users], seconds)


@dataclass(frozen=True)
class FakeUser:
    provider_user_id: str
    access_token: str
    refresh_token: str
    expires_at: int
    scope: str


def user_id_for(index: int, prefix: str = "user") -> str:
    return f"{prefix}-{index:06d}"


def connection_id_for(user_id: str, provider: str) -> str:
    return "conn_" + uuid.uuid5(ID_NAMESPACE, f"{user_id}/{provider}").hex


def seed_users(config: StackConfig, fake_urls: Mapping[str, str], count: int, env: Mapping[str, str] | None = None,
               seed: int = 1, pro_share: float = 0.2, prefix: str = "user", start_index: int = 0) -> SeedResult:
    """Create ``count`` users (indexes ``start_index``...) with their connections, tokens and sync configs."""
    started = time.monotonic()
    rng = random.Random(seed)
    plan = [(user_id_for(start_index + i, prefix), SYNC_PAIRS[(start_index + i) % len(SYNC_PAIRS)])
            for i in range(count)]
    needed = {p: sum(1 for _, pair in plan if p in pair[:2]) for p in fake_urls}
    with ThreadPoolExecutor(len(needed) or 1) as pool:  # the fakes are separate processes: ask them at once
        futures = {p: pool.submit(create_fake_users, fake_urls[p], n, f"{p}-{prefix}{seed}-")
                   for p, n in needed.items() if n}
        fake_users = {p: iter(future.result()) for p, future in futures.items()}
    items: list[dict[str, Any]] = []
    secrets: list[tuple[str, schema.ProviderTokens]] = []
    result = SeedResult()
    now = int(time.time())
    for user_id, (source, destination, data_type) in plan:
        tier = "PRO" if rng.random() < pro_share else "FREE"
        connections = []
        for provider in (source, destination):
            fake = next(fake_users[provider])
            conn = SeededConnection(connection_id_for(user_id, provider), provider, fake.provider_user_id)
            connections.append(conn)
            secret_name = schema.connection_secret_name(user_id, conn.connection_id)
            secrets.append((secret_name, schema.ProviderTokens(
                accessToken=fake.access_token, refreshToken=fake.refresh_token, expiresAt=fake.expires_at,
                scope=fake.scope, providerUserId=fake.provider_user_id)))
            items += connection_items(user_id, conn, secret_name)
        pair = SeededPair(connections[0].connection_id, connections[1].connection_id, source, destination, data_type)
        interval = config.tune("scheduler", "pro_interval_s" if tier == "PRO" else "free_interval_s")
        next_sync = now + rng.randrange(int(interval))
        items.append(profile_item(user_id, tier))
        items.append(sync_config_item(user_id, tier, pair, next_sync, config.tune("scheduler", "shards")))
        result.users.append(SeededUser(user_id, tier, tuple(connections), (pair,)))
    with ThreadPoolExecutor(2) as pool:  # Secrets Manager and DynamoDB are separate moto processes
        stored = pool.submit(store_secrets, secrets, env)
        written = pool.submit(write_items, config.table_name, items, env)
        stored.result(), written.result()
    result.seconds = time.monotonic() - started
    return result


def create_fake_users(base_url: str, count: int, prefix: str) -> list[FakeUser]:
    """Users created in one fake provider through its control API (tokens the fake will accept)."""
    import httpx

    response = httpx.post(f"{base_url}/_fake/users/bulk", json={"count": count, "prefix": prefix}, timeout=30)
    response.raise_for_status()
    body = response.json()
    rows = body.get("users", body) if isinstance(body, dict) else body
    return [FakeUser(provider_user_id=str(row["user_id"]), access_token=row["access_token"],
                     refresh_token=row["refresh_token"], expires_at=int(row["expires_at"]),
                     scope=str(row.get("scope", ""))) for row in rows]


def profile_item(user_id: str, tier: str) -> dict[str, Any]:
    return dict(schema.ProfileItem(PK=schema.user_pk(user_id), SK=schema.profile_sk(), userId=user_id, tier=tier,
                                   settings={}, version=1))


def connection_items(user_id: str, conn: SeededConnection, secret_name: str) -> list[dict[str, Any]]:
    connection = schema.ConnectionItem(
        PK=schema.user_pk(user_id), SK=schema.connection_sk(conn.connection_id), connectionId=conn.connection_id,
        userId=user_id, provider=conn.provider, providerUserId=conn.provider_user_id,
        displayName=f"{conn.provider.title()} ({conn.provider_user_id})", status="active", secretName=secret_name,
        version=1)
    mapping_key = schema.provider_user_pk(conn.provider, conn.provider_user_id)
    mapping = {"PK": mapping_key, "SK": mapping_key, "userId": user_id, "connectionId": conn.connection_id,
               "provider": conn.provider, "providerUserId": conn.provider_user_id}
    return [dict(connection), mapping]


def sync_config_item(user_id: str, tier: str, pair: SeededPair, next_sync: int, shards: int) -> dict[str, Any]:
    return dict(schema.SyncConfigItem(
        PK=schema.user_pk(user_id), SK=schema.sync_config_sk(pair.source_connection_id, pair.data_type),
        userId=user_id, sourceConnectionId=pair.source_connection_id,
        destinationConnectionId=pair.destination_connection_id, dataType=pair.data_type,
        conflictStrategy="newest_wins", enabled=True, cursor=0,
        SyncTierShardId=schema.tier_shard_id(tier, user_id, shards), NextSyncTimestamp=next_sync, version=1))


def store_secrets(secrets: Sequence[tuple[str, schema.ProviderTokens]], env: Mapping[str, str] | None) -> None:
    from stack import aws_clients

    client = aws_clients.client("secretsmanager", env)

    def put(entry: tuple[str, schema.ProviderTokens]) -> None:
        name, tokens = entry
        try:
            client.create_secret(Name=name, SecretString=json.dumps(tokens))
        except client.exceptions.ResourceExistsException:
            client.put_secret_value(SecretId=name, SecretString=json.dumps(tokens))

    with ThreadPoolExecutor(PARALLEL_CALLS) as pool:
        list(pool.map(put, secrets))


def write_items(table: str, items: Sequence[dict[str, Any]], env: Mapping[str, str] | None) -> None:
    """BatchWriteItem in chunks of 25, re-sending unprocessed items."""
    import boto3.dynamodb.types

    from stack import aws_clients

    serializer = boto3.dynamodb.types.TypeSerializer()
    client = aws_clients.client("dynamodb", env)

    def write(chunk: Sequence[dict[str, Any]]) -> None:
        requests = [{"PutRequest": {"Item": {k: serializer.serialize(v) for k, v in item.items()}}} for item in chunk]
        pending: dict[str, Any] = {table: requests}
        for _ in range(10):
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(0.05)
        raise RuntimeError(f"DynamoDB kept {len(pending.get(table, []))} items unprocessed while seeding")

    chunks = [items[i:i + BATCH_WRITE_SIZE] for i in range(0, len(items), BATCH_WRITE_SIZE)]
    with ThreadPoolExecutor(PARALLEL_CALLS) as pool:
        list(pool.map(write, chunks))
