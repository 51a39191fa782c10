"""Token refresh lock and write-ahead record, one DynamoDB item per connection secret.

Why: the providers rotate refresh tokens (Fitbit, Garmin, Strava: the old one is refused once the new one is
issued) and the fakes give no grace period. So between the provider's refresh response and the new tokens being
durable, the grant exists only in this process's memory. Two ways to lose it, both ending ``needs_reauth`` for a
user who did nothing wrong:

1. two workers refresh the same connection at once: the loser's refresh is refused (``invalid_grant``), and if the
   winner has not stored its tokens yet the loser concludes the grant is revoked;
2. the process dies (kill -9, OOM, a deploy) or Secrets Manager is down between the refresh and PutSecretValue.

What this module gives the credential store (stack/worker/credentials.py has the protocol):

- a per-connection refresh LOCK: ``PK = SK = TOKENREFRESH##{secretName}`` taken with one conditional UpdateItem
  (owner, lease). Two workers never refresh one connection at once; the second waits and then finds the first
  one's tokens in Secrets Manager.
- a WRITE-AHEAD record on the same item: the refresh response is the first thing stored, before Secrets Manager
  (``pendingTokens`` + ``basedOn``, the refresh token it replaced). Whoever takes the lock next (a restarted worker,
  another worker, this one on the next job) finds it and finishes the store; the lock's condition admits a new
  holder at once when a pending record exists, so recovery does not wait for a dead holder's lease.

Why DynamoDB first and not Secrets Manager directly: both are one write after the response, but Secrets Manager is
the dependency that goes away in the "Secrets Manager unavailable" experiment (timeouts of seconds, during which
the grant would live only in memory), while a worker without DynamoDB cannot run a job at all. The record lives
only until the Secrets Manager store lands (then it is deleted) and carries a ``ttl`` so an abandoned one goes;
in production the table is encrypted at rest with KMS, as the secret is.

Residual, which no client-side design closes without the provider's help (a reuse grace period for the old refresh
token): a kill between the provider answering and this first write still loses the grant.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable

from botocore.exceptions import ClientError

from stack.schema import PK, SK, TTL_ATTRIBUTE, ProviderTokens
from stack.worker.ddb import from_ddb, to_ddb

REFRESH_PREFIX = "TOKENREFRESH##"
LEASE_S = 30.0             # longer than a provider refresh call (httpx timeout 10 s) plus its write-ahead
RECORD_TTL_S = 30 * 86400  # an abandoned record outlives every access token (<= 24 h), so its next refresh sees it


@dataclass(frozen=True)
class PendingTokens:
    """Tokens a refresh obtained whose store in Secrets Manager may not have landed."""

    tokens: ProviderTokens
    based_on: str   # the refresh token they replaced (what Secrets Manager holds if the store never landed)


@dataclass(frozen=True)
class Acquired:
    pending: PendingTokens | None


def journal_key(secret_name: str) -> dict[str, str]:
    key = f"{REFRESH_PREFIX}{secret_name}"
    return {PK: key, SK: key}


def _is_conditional_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class RefreshJournal:
    def __init__(self, ddb: Any, table: str, *, lease_s: float = LEASE_S, record_ttl_s: int = RECORD_TTL_S,
                 clock: Callable[[], float] = time.time) -> None:
        self._ddb = ddb
        self._table = table
        self._lease_s = lease_s
        self._record_ttl_s = record_ttl_s
        self._clock = clock

    def acquire(self, secret_name: str, owner: str) -> Acquired | None:
        """Take the refresh lock; None while another live holder refreshes (and has nothing pending yet).

        The previous item comes back (ALL_OLD): its pending tokens, if a holder died or failed before its store."""
        now = self._clock()
        try:
            response = self._ddb.update_item(
                TableName=self._table, Key=to_ddb(journal_key(secret_name)),
                UpdateExpression="SET #o = :owner, leaseUntil = :lease, #ttl = :ttl",
                ConditionExpression="attribute_not_exists(PK) OR leaseUntil < :now OR attribute_exists(pendingTokens)",
                ExpressionAttributeNames={"#o": "owner", "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":owner": {"S": owner}, ":now": {"N": str(now)},
                                           ":lease": {"N": str(now + self._lease_s)},
                                           ":ttl": {"N": str(int(now + self._record_ttl_s))}},
                ReturnValues="ALL_OLD")
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return None
            raise
        old = from_ddb(response["Attributes"]) if response.get("Attributes") else {}
        return Acquired(_pending_of(old))

    def write_ahead(self, secret_name: str, owner: str, tokens: ProviderTokens, based_on: str) -> None:
        """The refresh response, stored first. Unconditional: these are now the only tokens the provider accepts,
        so they must be written even if our lease has run out meanwhile."""
        now = self._clock()
        self._ddb.update_item(
            TableName=self._table, Key=to_ddb(journal_key(secret_name)),
            UpdateExpression=("SET pendingTokens = :tokens, pendingRefreshToken = :rt, basedOn = :based, "
                              "#o = :owner, #ttl = :ttl"),
            ExpressionAttributeNames={"#o": "owner", "#ttl": TTL_ATTRIBUTE},
            ExpressionAttributeValues={":tokens": {"S": json.dumps(tokens)}, ":rt": {"S": tokens["refreshToken"]},
                                       ":based": {"S": based_on}, ":owner": {"S": owner},
                                       ":ttl": {"N": str(int(now + self._record_ttl_s))}})

    def pending(self, secret_name: str) -> PendingTokens | None:
        raw = self._ddb.get_item(TableName=self._table, Key=to_ddb(journal_key(secret_name)),
                                 ConsistentRead=True).get("Item")
        return _pending_of(from_ddb(raw)) if raw else None

    def settle(self, secret_name: str, refresh_token: str) -> None:
        """The pending tokens (refresh token ``refresh_token``) are in Secrets Manager: drop the record and the lock.
        Conditional, so a newer pending record written meanwhile by another refresh is never dropped."""
        self._delete(secret_name, "pendingRefreshToken = :rt", {":rt": {"S": refresh_token}}, {})

    def release(self, secret_name: str, owner: str) -> None:
        """Give the lock back without a refresh to record (the tokens were fresh, or the refresh failed)."""
        self._delete(secret_name, "#o = :owner AND attribute_not_exists(pendingTokens)", {":owner": {"S": owner}},
                     {"#o": "owner"})

    def _delete(self, secret_name: str, condition: str, values: dict[str, Any], names: dict[str, str]) -> None:
        request: dict[str, Any] = {"TableName": self._table, "Key": to_ddb(journal_key(secret_name)),
                                   "ConditionExpression": condition, "ExpressionAttributeValues": values}
        if names:
            request["ExpressionAttributeNames"] = names
        try:
            self._ddb.delete_item(**request)
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise


def _pending_of(item: dict[str, Any]) -> PendingTokens | None:
    raw = item.get("pendingTokens")
    if not raw:
        return None
    try:
        tokens = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return PendingTokens(tokens=tokens, based_on=str(item.get("basedOn") or ""))
