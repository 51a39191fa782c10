"""Errors the API answers with, translated at the edge into ``{"error": {"code", "message"}}`` JSON bodies."""
from __future__ import annotations

from typing import Mapping


class ApiError(Exception):
    """A response other than success: status, a stable machine code, a human message, optional headers."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def bad_request(message: str, code: str = "bad_request") -> ApiError:
    return ApiError(400, code, message)


def not_found(message: str = "not found") -> ApiError:
    return ApiError(404, "not_found", message)


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, {"WWW-Authenticate": 'Bearer error="invalid_token"'})


class DependencyUnavailable(Exception):
    """An AWS dependency (DynamoDB, SQS, S3, Secrets Manager) did not answer in time or refused: 503."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service} unavailable: {detail}")
        self.service = service
        self.detail = detail
