"""The AWS wire facts the chaos proxy needs: which service, operation and region a request is for (from
``X-Amz-Target``, the query ``Action``, the REST path, the SigV4 credential scope), and an error response in
that service's real wire format (JSON protocol ``__type``, query-compatible SQS header, REST-XML S3, query XML)."""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs

SCOPE_RE = re.compile(rb"Credential=[^/,]+/\d{8}/([^/,]+)/([^/,]+)/aws4_request")
QUERY_SCOPE_RE = re.compile(rb"X-Amz-Credential=[^&%]+(?:/|%2F)\d{8}(?:/|%2F)([^/&%]+)(?:/|%2F)([^/&%]+)")
JSON_TYPE_PREFIX = {"dynamodb": "com.amazonaws.dynamodb.v20120810#", "sqs": "com.amazonaws.sqs#"}
STATUS_TEXT = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict", 413: "Payload Too Large",
               429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
               503: "Service Unavailable", 504: "Gateway Timeout"}


@dataclass(frozen=True)
class CallInfo:
    service: str | None
    operation: str | None
    region: str | None
    protocol: str            # "json", "query", "rest-xml"
    json_version: bytes = b"1.0"


def identify(method: str, target: str, headers: dict[bytes, bytes], body: bytes, service: str | None) -> CallInfo:
    """Service (the listener's, else the signing scope's), operation and region of one request."""
    region, scoped = _scope(headers.get(b"authorization", b""), target)
    service = service or scoped
    amz_target = headers.get(b"x-amz-target")
    if amz_target:
        content_type = headers.get(b"content-type", b"application/x-amz-json-1.0")
        version = content_type.rpartition(b"-")[2] or b"1.0"
        return CallInfo(service, amz_target.rpartition(b".")[2].decode(), region, "json", version)
    if headers.get(b"content-type", b"").startswith(b"application/x-www-form-urlencoded") or "Action=" in target:
        query = target.partition("?")[2] + "&" + body.decode("utf-8", "replace")
        action = parse_qs(query).get("Action", [None])[0]
        return CallInfo(service, action, region, "query")
    return CallInfo(service, s3_operation(method, target, headers) if service == "s3" else None, region, "rest-xml")


def _scope(authorization: bytes, target: str) -> tuple[str | None, str | None]:
    match = SCOPE_RE.search(authorization) or QUERY_SCOPE_RE.search(target.encode())
    if not match:
        return None, None
    return match.group(1).decode(), match.group(2).decode()


def s3_operation(method: str, target: str, headers: dict[bytes, bytes]) -> str:
    """The S3 operation of a path-style REST request (the common ones; enough to target a rule)."""
    path, _, query = target.partition("?")
    parts = [p for p in path.split("/") if p]
    params = parse_qs(query, keep_blank_values=True)
    if not parts:
        return "ListBuckets"
    if len(parts) == 1:
        bucket_ops = {"GET": "ListObjectsV2" if params.get("list-type") == ["2"] else "ListObjects",
                      "PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket",
                      "POST": "DeleteObjects" if "delete" in params else "PostObject"}
        return bucket_ops.get(method, method)
    if method == "PUT":
        if "partNumber" in params:
            return "UploadPart"
        return "CopyObject" if b"x-amz-copy-source" in headers else "PutObject"
    if method == "POST":
        return "CreateMultipartUpload" if "uploads" in params else "CompleteMultipartUpload"
    return {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(method, method)


def error_response(call: CallInfo, status: int, code: str, message: str | None, keep_alive: bool = True) -> bytes:
    """A complete HTTP/1.1 response carrying the error the real service would send."""
    request_id = str(uuid.uuid4())
    message = message or f"Injected by the swsim AWS chaos proxy ({code})"
    headers = [f"x-amzn-RequestId: {request_id}", f"x-amz-request-id: {request_id}"]
    if call.protocol == "json":
        error_type = JSON_TYPE_PREFIX.get(call.service or "", "") + code
        body = json.dumps({"__type": error_type, "message": message}).encode()
        headers.append(f"Content-Type: application/x-amz-json-{call.json_version.decode()}")
        if call.service == "sqs":  # SQS's JSON protocol is query-compatible: botocore reads the code here
            headers.append(f"x-amzn-query-error: {code};{'Sender' if status < 500 else 'Receiver'}")
    elif call.protocol == "query":
        fault = "Sender" if status < 500 else "Receiver"
        body = (f'<?xml version="1.0"?><ErrorResponse><Error><Type>{fault}</Type><Code>{code}</Code>'
                f"<Message>{_xml(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
                ).encode()
        headers.append("Content-Type: text/xml")
    else:
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{_xml(message)}'
                f"</Message><RequestId>{request_id}</RequestId></Error>").encode()
        headers.append("Content-Type: application/xml")
    if status == 429 or code in ("SlowDown", "ServiceUnavailable"):
        headers.append("Retry-After: 1")
    headers += [f"Content-Length: {len(body)}", f"Connection: {'keep-alive' if keep_alive else 'close'}"]
    head = f"HTTP/1.1 {status} {STATUS_TEXT.get(status, 'Error')}\r\n" + "\r\n".join(headers) + "\r\n\r\n"
    return head.encode() + body


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
