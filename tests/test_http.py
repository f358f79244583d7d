"""The shared HTTP plumbing: pacing, the retry predicate, classification, redaction, stats."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from pmtools.config import Settings
from pmtools.connectors.factory import connect
from pmtools.connectors.http import (
    HttpClient,
    RateLimiter,
    RetryPolicy,
    query_string,
    redact_url,
    retry_reason,
)
from pmtools.connectors.karbon import IpmConnector
from pmtools.connectors.liscio import LiscioConnector
from pmtools.errors import AuthError, ConfigError, NotFound, RecordError, ServiceError


class VirtualTime:
    """An injected clock and sleep: sleeping moves the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


class Counter:
    """A tiny service: answers from a list of canned responses, then 200 {}."""

    def __init__(self, *replies: httpx.Response | type[Exception]) -> None:
        self.replies = list(replies)
        self.seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.method)
        if self.replies:
            reply = self.replies.pop(0)
            if isinstance(reply, type):
                raise reply("boom", request=request)
            return reply
        return httpx.Response(200, json={})


def client(service: Counter, vt: VirtualTime | None = None, **kw) -> HttpClient:
    vt = vt or VirtualTime()
    return HttpClient(
        "https://svc.example/api",
        label="Svc",
        side="ipm",
        headers={"Authorization": "Bearer sekrit-token"},
        transport=httpx.MockTransport(service),
        sleep=vt.sleep,
        clock=vt.clock,
        **kw,
    )


# -- pacing ------------------------------------------------------------------------------------


def test_limiter_spaces_requests_evenly():
    vt = VirtualTime()
    limiter = RateLimiter(120, clock=vt.clock, sleep=vt.sleep, headroom=0)
    stamps = []
    for _ in range(5):
        limiter.acquire()
        stamps.append(vt.now)
    assert [round(b - a, 6) for a, b in zip(stamps, stamps[1:])] == [0.5] * 4


def test_limiter_off_never_waits_but_still_holds_after_a_429():
    vt = VirtualTime()
    limiter = RateLimiter(0, clock=vt.clock, sleep=vt.sleep)
    assert [limiter.acquire() for _ in range(50)] == [0.0] * 50
    limiter.hold(7)
    assert limiter.acquire() == 7


def test_limiter_is_shared_by_threads():
    limiter = RateLimiter(6000, headroom=0)  # one slot every 10 ms, real time
    done: list[int] = []

    def work():
        for _ in range(10):
            limiter.acquire()
            done.append(1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 40 slots 10 ms apart: the last cannot come sooner than 390 ms after the first
    assert len(done) == 40 and time.monotonic() - start >= 0.39 * 0.99


def test_a_long_run_goes_at_the_limit():
    vt = VirtualTime()
    http = client(Counter(), vt, rate_limit=120)
    for _ in range(200):
        http.request("GET", "/x")
    stats = http.stats()
    assert stats.requests == 200 and stats.rate_limited == 0
    assert 0.95 <= stats.utilisation(120) <= 1.0


# -- retries -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "status", "error", "reason"),
    [
        ("POST", 429, None, "rate-limited"),
        ("GET", 503, None, "server"),
        ("PUT", 500, None, "server"),
        ("PATCH", 502, None, "server"),
        ("POST", 500, None, None),
        ("GET", 501, None, None),
        ("GET", 404, None, None),
        ("GET", 409, None, None),
        ("GET", None, httpx.ReadTimeout("t"), "transport"),
        ("POST", None, httpx.ReadTimeout("t"), None),
        ("POST", None, httpx.RemoteProtocolError("t"), None),
        ("POST", None, httpx.ConnectError("t"), "connect"),
    ],
)
def test_retry_predicate(method, status, error, reason):
    assert retry_reason(method, status=status, error=error) == reason


def test_429_honours_retry_after_and_counts():
    vt = VirtualTime()
    service = Counter(
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(429, headers={"Retry-After": "5"}),
    )
    http = client(service, vt)
    assert http.request("POST", "/x").status_code == 200
    assert vt.waits == [3, 5]
    stats = http.stats()
    assert (stats.requests, stats.rate_limited, stats.retries, stats.waited_seconds) == (3, 2, 2, 8)
    assert stats.count(method="POST") == 3


def test_429_without_end_is_a_service_error():
    service = Counter(*[httpx.Response(429, headers={"Retry-After": "1"})] * 5)
    with pytest.raises(ServiceError, match="still rate-limited"):
        client(service, retry=RetryPolicy(rate_limited_attempts=3)).request("GET", "/x")


def test_server_errors_back_off_on_get_and_not_on_post():
    vt = VirtualTime()
    service = Counter(httpx.Response(503), httpx.Response(503))
    assert client(service, vt).request("GET", "/x").status_code == 200
    assert len(vt.waits) == 2 and vt.waits[1] > vt.waits[0]
    service = Counter(httpx.Response(503))
    with pytest.raises(ServiceError):
        client(service).request("POST", "/x")
    assert service.seen == ["POST"]


def test_a_connection_never_opened_is_retried_even_for_post():
    service = Counter(httpx.ConnectError)
    assert client(service).request("POST", "/x").status_code == 200
    assert service.seen == ["POST", "POST"]


def test_reads_stop_after_the_attempts():
    service = Counter(*[httpx.ReadTimeout] * 9)
    with pytest.raises(ServiceError, match="ReadTimeout.*after 3 tries"):
        client(service, retry=RetryPolicy(attempts=3)).request("GET", "/x")
    assert len(service.seen) == 3


# -- classification, redaction, secrets ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, {"error": {"statusCode": "401", "message": "JWT not present."}}, AuthError),
        (403, {"statusCode": "403", "message": "Forbidden"}, AuthError),
        (403, {"error": {"code": "4021", "message": "Private not permitted"}}, RecordError),
        (404, {"error": {"code": "4004", "message": "No Contact found"}}, NotFound),
        (404, {"statusCode": "404", "message": "Resource not found"}, NotFound),
        (400, {"error": {"code": "4003", "message": "Invalid model"}}, RecordError),
        (409, {"error": {"code": "4020", "message": "modified"}}, RecordError),
        (500, {"error": {"code": "5001", "message": "Internal Error."}}, ServiceError),
    ],
)
def test_failures_are_classified(status, body, error):
    with pytest.raises(error) as caught:
        client(Counter(*[httpx.Response(status, json=body)] * 9)).request("GET", "/x")
    assert type(caught.value) is error and caught.value.status == status
    assert caught.value.side == "ipm" and "https://svc.example/api/x" in str(caught.value)


def test_error_codes_and_messages_are_read_from_every_body_shape():
    with pytest.raises(RecordError) as caught:
        client(
            Counter(httpx.Response(400, json={"error": {"code": "4002", "message": "no $x"}}))
        ).request("GET", "/x")
    assert caught.value.code == "4002" and "no $x" in str(caught.value)
    with pytest.raises(RecordError, match="Bad Request"):
        client(Counter(httpx.Response(400, text="<html>"))).request("GET", "/x")


def test_malformed_json_is_a_clear_service_error():
    http = client(
        Counter(httpx.Response(200, text="{not json", headers={"Content-Type": "application/json"}))
    )
    with pytest.raises(ServiceError, match="not JSON"):
        http.parse_json(http.request("GET", "/x"))


def test_redact_url():
    assert redact_url("https://user:pw@h.example/v3/X?$top=1&access_key=abc&token=t") == (
        "https://h.example/v3/X?$top=1&access_key=***&token=***"
    )
    assert redact_url("http://127.0.0.1:9/karbon/v3/Contacts") == (
        "http://127.0.0.1:9/karbon/v3/Contacts"
    )


def test_query_string_keeps_odata_names_readable():
    assert query_string({"$top": 100, "$orderby": "FullName desc", "skip": None}) == (
        "?$top=100&$orderby=FullName%20desc"
    )
    assert query_string({}) == ""


def test_secrets_never_reach_messages_or_repr():
    service = Counter(
        httpx.Response(400, json={"error": {"code": "4002", "message": "bad sekrit-token"}})
    )
    http = client(service)
    with pytest.raises(RecordError) as caught:
        http.request("GET", "/x")
    assert "sekrit-token" not in str(caught.value) + repr(http)


# -- factory -----------------------------------------------------------------------------------


def test_connect_builds_both_connectors(tmp_path: Path):
    settings = Settings(state_path=tmp_path / "s.sqlite").with_sandbox("http://127.0.0.1:1")
    liscio, ipm = connect(
        settings,
        transport=httpx.MockTransport(
            lambda r: httpx.Response(200, json={"items": [], "next_cursor": None, "TenantKey": "T"})
        ),
    )
    assert isinstance(liscio, LiscioConnector) and isinstance(ipm, IpmConnector)
    assert ipm.rate_limit == settings.ipm_rate_limit
    assert liscio.check() == "Liscio connected" and ipm.check() == "IPM tenant T"
    for secret in (settings.liscio_token, settings.ipm_token, settings.ipm_access_key):
        assert secret not in repr(liscio) + repr(ipm)


def test_connect_refuses_missing_settings():
    with pytest.raises(ConfigError, match="PMTOOLS_IPM_ACCESS_KEY"):
        connect(
            Settings(liscio_url="http://x", liscio_token="t", ipm_url="http://y", ipm_token="t")
        )


def test_a_url_that_is_no_url_is_a_config_error():
    http = HttpClient("127.0.0.1:9/karbon", label="IPM", side="ipm", headers={})
    with pytest.raises(ConfigError, match="http:// or https://"):
        http.request("GET", "/v3/TenantSettings")
