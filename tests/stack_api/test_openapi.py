"""The OpenAPI document agrees with the routes, is served as-is, and a fuzzing run finds no 5xx."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
import yaml
from starlette.routing import Route

from stack.api.app import OPENAPI_PATH, create_app
from stack.config import StackConfig

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


def documented_operations() -> set[tuple[str, str]]:
    document = yaml.safe_load(OPENAPI_PATH.read_text())
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item
            if method in HTTP_METHODS}


def routed_operations() -> set[tuple[str, str]]:
    app = create_app(StackConfig.from_env({"SYNCWELL_TABLE_NAME": "SyncWellMetadata"}))
    return {(method, route.path) for route in app.routes if isinstance(route, Route)
            for method in (route.methods or ()) if method != "HEAD"}


def test_document_and_routes_agree() -> None:
    assert documented_operations() == routed_operations()


def test_path_parameters_are_documented() -> None:
    document = yaml.safe_load(OPENAPI_PATH.read_text())
    for path, item in document["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if "$ref" not in p and p["in"] == "path"}
            assert declared == names, (method, path)


def test_document_is_served(client) -> None:
    served = client.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == yaml.safe_load(OPENAPI_PATH.read_text())
    assert client.get("/openapi.yaml").text == OPENAPI_PATH.read_text()


@pytest.mark.slow
def test_schemathesis_finds_no_server_error(api, minter, user, tmp_path) -> None:
    user_id, _ = user
    token = minter.mint("firebase", user_id, ttl_s=3600)
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{api.url}/openapi.json", "--url", api.url,
               "-H", f"Authorization: Bearer {token}", "--checks", "not_a_server_error", "--max-examples", "6",
               "--seed", "20261122", "--request-timeout", "10", "--phases", "fuzzing", "--no-shrink",
               "--generation-deterministic", "--suppress-health-check", "all", "--no-color"]
    if shutil.which("schemathesis") is None:
        pytest.skip("schemathesis CLI not installed")
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert token not in api.logs()
