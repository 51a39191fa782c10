"""The providers' lean HTTP client (stack/providers/lean_http.py) against a real local HTTP(S) server: encoding
as httpx encodes, keep-alive reuse, per-call timeouts and refused connections as transient provider errors,
case-insensitive headers, TLS, and the SWSIM_PROVIDER_CLIENT=httpx switch."""
from __future__ import annotations

import datetime as dt
import gzip
import http.server
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from stack.providers import HttpProvider, ProviderThrottled, TransientProviderError, make_http, reads_until
from stack.providers.lean_http import CLIENT_SWITCH, LeanHttpClient, LeanResponse, LeanTransportError


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    client_port: int


@dataclass
class Server:
    url: str
    seen: list[Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)   # ends a /slow request's wait


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, as the providers' servers
    server: Any

    def log_message(self, *args: Any) -> None:   # quiet
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        state: Server = self.server.state
        state.seen.append(Seen(self.command, parts.path, parts.query, {k.lower(): v for k, v in self.headers.items()},
                               body, self.client_address[1]))
        if parts.path == "/slow":
            state.release.wait(30)
        if parts.path == "/throttled":
            return self._reply(429, b'{"message": "Rate Limit Exceeded"}', {"Retry-After": "17"})
        if parts.path == "/mixed-case":
            return self._reply(200, "héllo".encode("latin-1"),
                               {"Content-Type": "text/plain; charset=ISO-8859-1", "X-RateLimit-Usage": "5,10"})
        if parts.path == "/gzip":
            return self._reply(200, gzip.compress(b'{"zipped": true}'), {"Content-Encoding": "gzip"})
        if parts.path == "/close":
            return self._reply(200, b"[]", {"Connection": "close"})
        echo = {"method": self.command, "path": parts.path, "query": parts.query, "body": body.decode()}
        self._reply(200, json.dumps(echo).encode(), {"Content-Type": "application/json"})

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if headers.get("Connection") == "close":
            self.close_connection = True


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:   # a client gone after its timeout
        pass


def _serve(tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    httpd = _QuietServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    scheme = "https" if tls else "http"
    host = "localhost" if tls else "127.0.0.1"
    state = Server(f"{scheme}://{host}:{httpd.server_address[1]}")
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    yield from _serve()


@pytest.fixture
def client() -> Iterator[LeanHttpClient]:
    http = LeanHttpClient(pool=4, timeout_s=10.0)
    yield http
    http.close()


class _Provider(HttpProvider):
    name = "testprov"


def _provider(url: str, http: Any) -> _Provider:
    return _Provider(url, http, gate=lambda _name: None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- requests -----------------------------------------------------------------------------------------------------

PARAMS = {"afterDate": "2026-12-05T10:00:00", "keys": "time,latlng,heartrate", "key_by_type": True, "flag": False,
          "page": 2, "empty": None, "space": "a b&c=d/é"}


def test_params_are_encoded_as_httpx_encodes_them(server: Server, client: LeanHttpClient) -> None:
    response = client.request("GET", server.url + "/api/v3/athlete/activities", params=PARAMS)
    assert response.status_code == 200
    expected = httpx.Request("GET", server.url + "/api/v3/athlete/activities", params=PARAMS).url
    assert server.seen[-1].query == expected.query.decode()
    assert dict(parse_qsl(server.seen[-1].query, keep_blank_values=True)) == {
        "afterDate": "2026-12-05T10:00:00", "keys": "time,latlng,heartrate", "key_by_type": "true",
        "flag": "false", "page": "2", "empty": "", "space": "a b&c=d/é"}
    assert response.url == str(expected)
    assert server.seen[-1].method == "GET" and server.seen[-1].body == b""
    assert "content-length" not in server.seen[-1].headers   # a GET carries no body framing


def test_params_join_a_query_already_in_the_url(server: Server, client: LeanHttpClient) -> None:
    client.request("GET", server.url + "/list?offset=100", params={"limit": 100})
    assert server.seen[-1].query == "offset=100&limit=100"


def test_a_path_outside_ascii_is_percent_encoded_as_httpx_does(server: Server, client: LeanHttpClient) -> None:
    response = client.request("GET", server.url + "/items/ä b")
    assert server.seen[-1].path == httpx.Request("GET", server.url + "/items/ä b").url.raw_path.decode()
    assert response.url == server.url + "/items/%C3%A4%20b"


def test_form_body_and_headers(server: Server, client: LeanHttpClient) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": "r+t/=", "durationMillis": 60000, "trainer": "0"}
    response = client.request("POST", server.url + "/oauth/token", data=form,
                              headers={"Authorization": "Basic abc", "X-Custom": "1"})
    seen = server.seen[-1]
    assert seen.method == "POST" and seen.path == "/oauth/token"
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    assert seen.headers["authorization"] == "Basic abc" and seen.headers["x-custom"] == "1"
    assert seen.headers["host"] == server.url.split("//")[1]
    assert seen.body == httpx.Request("POST", server.url, data=form).read()
    assert dict(parse_qsl(seen.body.decode())) == {"grant_type": "refresh_token", "refresh_token": "r+t/=",
                                                   "durationMillis": "60000", "trainer": "0"}
    assert response.json()["body"] == seen.body.decode()


def test_json_text_content_and_case_insensitive_headers(server: Server, client: LeanHttpClient) -> None:
    response = client.request("GET", server.url + "/mixed-case")
    assert response.headers.get("x-ratelimit-usage") == "5,10"
    assert response.headers.get("X-RateLimit-Usage") == "5,10"
    assert response.headers["CONTENT-TYPE"].startswith("text/plain")
    assert "Content-Length" in response.headers and response.headers.get("Retry-After") is None
    assert response.content == "héllo".encode("latin-1") and response.text == "héllo"   # the declared charset
    echoed = client.request("DELETE", server.url + "/things/1")
    assert echoed.json() == {"method": "DELETE", "path": "/things/1", "query": "", "body": ""}
    assert client.request("GET", server.url + "/gzip").json() == {"zipped": True}


def test_keep_alive_reuses_one_connection_and_recovers_from_a_server_close(server: Server,
                                                                           client: LeanHttpClient) -> None:
    for page in range(5):
        client.request("GET", server.url + "/activities", params={"page": page})
    client.request("POST", server.url + "/activities.json", data={"a": 1})
    ports = {seen.client_port for seen in server.seen}
    assert len(server.seen) == 6 and len(ports) == 1
    client.request("GET", server.url + "/close")          # the server closes after answering
    client.request("GET", server.url + "/after-close")    # a new connection, not an error
    assert server.seen[-1].path == "/after-close" and server.seen[-1].client_port not in ports


# --- failures -----------------------------------------------------------------------------------------------------

def test_per_call_timeout_is_a_transient_error(server: Server, client: LeanHttpClient) -> None:
    with pytest.raises(LeanTransportError) as raised:
        client.request("POST", server.url + "/slow", data={"a": 1}, timeout=0.2)
    assert raised.value.kind == "ReadTimeoutError"
    assert [seen.path for seen in server.seen] == ["/slow"]   # a POST is never resent
    server.release.set()
    # a pooled connection used with a per-call timeout goes back to the client's own (10 s) timeout
    client.request("GET", server.url + "/fine")
    pooled = client._transports[server.url]._idle
    assert len(pooled) == 1 and pooled[0].sock.gettimeout() == 10.0


def test_provider_maps_a_lease_bounded_timeout_to_transient_error(server: Server, client: LeanHttpClient) -> None:
    provider = _provider(server.url, client)
    with reads_until(time.time() + 0.3):   # the worker's lease bound: the GET's timeout shrinks to fit
        with pytest.raises(TransientProviderError, match=r"testprov GET /slow: ReadTimeoutError") as raised:
            provider._request("GET", "/slow", token="secret-token")
    assert "secret-token" not in str(raised.value)
    assert server.seen[-1].headers["authorization"] == "Bearer secret-token"


def test_connection_refused_is_a_transient_error(client: LeanHttpClient) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(LeanTransportError) as raised:
        client.request("GET", url + "/x")
    assert raised.value.kind == "EndpointConnectionError"
    with pytest.raises(TransientProviderError, match=r"testprov GET /x: EndpointConnectionError") as mapped:
        _provider(url, client)._request("GET", "/x", token="secret-token")
    assert "secret-token" not in str(mapped.value)


def test_a_429_with_retry_after_is_throttled(server: Server, client: LeanHttpClient) -> None:
    with pytest.raises(ProviderThrottled) as raised:
        _provider(server.url, client)._request("GET", "/throttled", token="t")
    assert raised.value.retry_after_s == 17.0
    assert server.seen[-1].headers["authorization"] == "Bearer t"


def test_multipart_goes_through_httpx(server: Server, client: LeanHttpClient) -> None:
    response = client.request("POST", server.url + "/api/v3/uploads", data={"data_type": "tcx"},
                              files={"file": ("a.tcx", b"<xml/>", "application/vnd.garmin.tcx+xml")})
    assert isinstance(response, httpx.Response) and response.status_code == 200
    assert server.seen[-1].headers["content-type"].startswith("multipart/form-data")
    assert b"<xml/>" in server.seen[-1].body


def test_switch_restores_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CLIENT_SWITCH, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(make_http(), LeanHttpClient)
    monkeypatch.setenv(CLIENT_SWITCH, "httpx")
    http = make_http(pool_size=2, timeout_s=4.0)
    assert isinstance(http, httpx.Client) and http.timeout.read == 4.0
    http.close()


# --- TLS ----------------------------------------------------------------------------------------------------------

def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_https_is_verified_against_the_trusted_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert_path, key_path = _self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_path, key_path)
    for state in _serve(tls):
        untrusting = LeanHttpClient(pool=2, timeout_s=5.0)     # the default bundle does not know our CA
        with pytest.raises(LeanTransportError) as raised:
            untrusting.request("GET", state.url + "/x")
        assert raised.value.kind == "SSLError"
        untrusting.close()
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))
        trusting = LeanHttpClient(pool=2, timeout_s=5.0)
        first = trusting.request("GET", state.url + "/a", params={"q": 1})
        second = trusting.request("POST", state.url + "/b", data={"k": "v"})
        assert first.json()["query"] == "q=1" and second.json()["body"] == "k=v"
        assert len({seen.client_port for seen in state.seen if seen.path in ("/a", "/b")}) == 1   # TLS keep-alive
        assert isinstance(first, LeanResponse) and first.url == state.url + "/a?q=1"
        trusting.close()
