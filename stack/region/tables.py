"""Reading the two regions' tables directly (moto, no proxy): which acknowledged jobs each region holds and in
what state, and whether the two tables agree."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from stack import aws_clients, schema

BATCH_GET = 100


def job_states(env: Mapping[str, str], table: str, jobs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(user_id, job_id) -> the job's status in that region's table (absent jobs are left out)."""
    client = aws_clients.client("dynamodb", env)
    wanted = list(dict.fromkeys(jobs))
    found: dict[tuple[str, str], str] = {}
    for start in range(0, len(wanted), BATCH_GET):
        chunk = wanted[start:start + BATCH_GET]
        keys: list[dict[str, Any]] = [{schema.PK: {"S": schema.user_pk(u)}, schema.SK: {"S": schema.job_sk(j)}}
                                      for u, j in chunk]
        request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
        while request:
            answer = client.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(table, []):
                user = item[schema.PK]["S"].split("#", 1)[1]
                job = item[schema.SK]["S"].split("#", 1)[1]
                found[(user, job)] = item.get("status", {}).get("S", "QUEUED")
            request = answer.get("UnprocessedKeys") or {}
    return found


def table_digest(env: Mapping[str, str], table: str) -> dict[tuple[str, str], str]:
    """Every item of the region's table: key -> a canonical form of its attributes."""
    import json

    client = aws_clients.client("dynamodb", env)
    out: dict[tuple[str, str], str] = {}
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            out[(item[schema.PK]["S"], item[schema.SK]["S"])] = json.dumps(item, sort_keys=True)
    return out


def divergence(a: Mapping[tuple[str, str], str], b: Mapping[tuple[str, str], str]) -> list[tuple[str, str]]:
    """Keys whose item differs between the two tables (or exists in one only)."""
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
