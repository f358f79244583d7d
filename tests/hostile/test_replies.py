"""Hostile replies, in memory: each mode a small app behind ``httpx.MockTransport``.

Time is virtual (an injected clock and sleep), so a deadline or a Retry-After is asserted by
what the client did and said, never by how long it took. Every case asserts the error class
(its exit code: MalformedReply and ServiceError exit 5), a message naming the endpoint by its
path, and no host, query or secret in it. The same modes over real loopback HTTP, through
``pmtools sync``, are in ``test_replies_cli.py``.
"""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pmtools.connectors.http import HttpClient, RetryPolicy
from pmtools.connectors.karbon import IpmConnector
from pmtools.connectors.liscio import LiscioConnector
from pmtools.connectors.redact import redact_url
from pmtools.core.records import Kind
from pmtools.errors import ConfigError, ConnectorError, MalformedReply, ServiceError

HOST = "https://svc.example"
TOKEN = "sekrit-token-1234"
KEY = "access-key-5678"


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


def client(app: Any, vt: VirtualTime, **kw: Any) -> HttpClient:
    return HttpClient(
        HOST + "/api",
        label="Svc",
        side="ipm",
        headers={"Authorization": f"Bearer {TOKEN}"},
        transport=httpx.MockTransport(app),
        sleep=vt.sleep,
        clock=vt.clock,
        **kw,
    )


def assert_clean(message: str, path: str) -> None:
    """A message for a person: names the endpoint by path; no host, query, secret, traceback."""
    assert path in message
    for leak in ("svc.example", "127.0.0.1", TOKEN, KEY, "?", "Traceback"):
        assert leak not in message, (leak, message)


# -- bounded in time and size ------------------------------------------------------------------


class Trickle(httpx.SyncByteStream):
    """A body that never ends: one byte per chunk, each chunk 5 (virtual) seconds apart."""

    def __init__(self, vt: VirtualTime) -> None:
        self.vt = vt
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        yield b"{"
        while True:  # endless: only the client's deadline ends it
            self.vt.now += 5
            self.sent += 1
            yield b" "


def test_a_trickled_body_stops_at_the_request_deadline():
    vt = VirtualTime()
    trickle = Trickle(vt)
    http = client(lambda request: httpx.Response(200, stream=trickle), vt, deadline=60)
    with pytest.raises(MalformedReply) as caught:
        http.request("GET", "/things")
    assert "deadline" in str(caught.value)
    assert_clean(str(caught.value), "/api/things")
    assert trickle.sent <= 13  # 60 s of 5 s bytes, and it was not retried


def _bomb(decoded: int) -> bytes:
    """A gzip body that expands to ``decoded`` bytes of zeros (built in 1 MB steps)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * (1 << 20)
    out = [packer.compress(block) for _ in range(decoded >> 20)]
    return b"".join(out) + packer.flush()


def test_a_gzip_bomb_is_cut_at_the_decoded_size_cap():
    bomb = _bomb(64 << 20)
    assert len(bomb) < 100_000
    app = lambda request: httpx.Response(  # noqa: E731
        200, headers={"Content-Encoding": "gzip"}, stream=httpx.ByteStream(bomb)
    )
    http = client(app, VirtualTime(), max_bytes=1 << 20)
    with pytest.raises(MalformedReply, match="larger than 1 MB") as caught:
        http.request("GET", "/bomb")
    assert_clean(str(caught.value), "/api/bomb")


def test_gzip_and_deflate_replies_within_the_cap_decode_as_usual():
    body = json.dumps({"value": ["x" * 1000] * 10}).encode()
    for encoding, packed in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))):
        app = lambda request, e=encoding, p=packed: httpx.Response(  # noqa: E731
            200, headers={"Content-Encoding": e}, stream=httpx.ByteStream(p)
        )
        http = client(app, VirtualTime(), max_bytes=len(body))
        assert http.parse_json(http.request("GET", "/ok")) == json.loads(body)


@pytest.mark.parametrize(
    "encoding, body, problem",
    [
        ("br", b"whatever", "not asked for"),
        ("gzip", b"not gzip at all", "encoding is broken"),
    ],
)
def test_an_encoding_not_asked_for_or_broken_is_malformed(encoding, body, problem):
    app = lambda request: httpx.Response(  # noqa: E731
        200, headers={"Content-Encoding": encoding}, stream=httpx.ByteStream(body)
    )
    with pytest.raises(MalformedReply, match=problem):
        client(app, VirtualTime()).request("GET", "/enc")


@pytest.mark.parametrize(
    "body, problem",
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper"),  # RecursionError in the parser
        (b"[" * 40 + b"]" * 40, "nested deeper"),  # parses, but deeper than any real reply
        (b'{"value": [{"FullName": "Bad \\ud800 name"}]}', "lone surrogate"),
        (b'{"@odata.count": NaN}', "not JSON"),
        (b"<html>busy</html>", "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
    ],
)
def test_replies_that_would_crash_their_reader_are_malformed(body, problem):
    http = client(lambda request: httpx.Response(200, content=body), VirtualTime())
    with pytest.raises(MalformedReply, match=problem) as caught:
        http.parse_json(http.request("GET", "/page", params={"access_key": KEY}))
    assert_clean(str(caught.value), "/api/page")


def test_an_error_reply_nested_too_deep_is_still_classified():
    body = b"[" * 100_000 + b"]" * 100_000
    http = client(lambda request: httpx.Response(400, content=body), VirtualTime())
    with pytest.raises(ConnectorError) as caught:
        http.request("PUT", "/thing", json={})
    assert caught.value.status == 400


# -- Retry-After: a total budget and a warning ---------------------------------------------------


class RateLimited:
    """Answers 429 with ``Retry-After: seconds`` ``times`` times, then 200."""

    def __init__(self, seconds: str, times: int) -> None:
        self.seconds, self.times, self.calls = seconds, times, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls <= self.times:
            return httpx.Response(429, headers={"Retry-After": self.seconds})
        return httpx.Response(200, json={"ok": True})


def test_a_retry_after_beyond_the_budget_stops_at_once_with_a_message():
    vt = VirtualTime()
    app = RateLimited("999999", times=50)
    with pytest.raises(ServiceError) as caught:
        client(app, vt).request("GET", "/Contacts")
    message = str(caught.value)
    assert "retry budget" in message and "run the same command again later" in message
    assert_clean(message, "/api/Contacts")
    assert sum(vt.waits) == 0 and app.calls == 1  # it did not wait 20 × 600 s


def test_the_budget_bounds_the_waits_of_all_retries_together():
    vt = VirtualTime()
    app = RateLimited("300", times=50)
    with pytest.raises(ServiceError, match="retry budget"):
        client(app, vt, retry=RetryPolicy(budget=900)).request("GET", "/Contacts")
    assert sum(vt.waits) <= 900 and app.calls == 4


def test_a_long_wait_is_a_warning_a_person_sees(caplog):
    vt = VirtualTime()
    app = RateLimited("45", times=1)
    with caplog.at_level(logging.INFO, logger="pmtools"):
        response = client(app, vt).request("GET", "/Contacts")
    assert response.status_code == 200 and sum(vt.waits) == 45
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "wait 45 s" in warnings[0].getMessage()


def test_the_long_wait_warning_reaches_the_workbench_log_panel():
    from pmtools.workbench.common import LogPanel, PanelHandler

    panel = LogPanel()
    handler = PanelHandler(panel).attach()
    try:
        client(RateLimited("120", times=1), VirtualTime()).request("GET", "/Contacts")
    finally:
        handler.detach()
    (line,) = [line for line in panel.lines if "WARNING" in line]
    assert "Svc is rate-limiting pmtools and asks it to wait 120 s" in line


def test_backoff_of_5xx_retries_counts_against_the_budget():
    vt = VirtualTime()
    calls = []
    app = lambda request: calls.append(1) or httpx.Response(503)  # noqa: E731
    policy = RetryPolicy(attempts=50, backoff=10, backoff_max=10, jitter=0, budget=35)
    with pytest.raises(ServiceError, match="retry budget"):
        client(app, vt, retry=policy).request("GET", "/x")
    assert sum(vt.waits) <= 35 and len(calls) == 4


# -- redaction (issue 8 §6) ----------------------------------------------------------------------


def test_httpx_request_logs_carry_redacted_urls(caplog):
    http = HttpClient(
        "https://user:pa55word@svc.example/api",
        label="Svc",
        side="ipm",
        headers={},
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json={})),
    )
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="httpx"):
        http.request("GET", "/things", params={"access_key": "qwerty-secret", "page": "2"})
    lines = [r.getMessage() for r in caplog.records]
    assert any(
        line.startswith("HTTP Request: GET https://svc.example/api/things") for line in lines
    ), lines
    text = "\n".join(lines)
    assert "pa55word" not in text and "qwerty-secret" not in text and "user:" not in text
    assert "page=2" in text  # what is not secret stays readable


@pytest.mark.parametrize(
    "url",
    [
        "ftp://user:pa55word@svc.example/x?token=qwerty-secret",
        "https://user:pa55word@[::1/x?token=qwerty-secret",
        "svc.example:pa55word@/x?token=qwerty-secret",
    ],
)
def test_a_url_in_a_configuration_error_is_redacted(url):
    with pytest.raises(ConfigError) as caught:
        HttpClient(url, label="Svc", side="ipm", headers={}).request("GET", "/x")
    assert "pa55word" not in str(caught.value) and "qwerty-secret" not in str(caught.value)


def test_redact_url_never_raises_on_an_unsplittable_url():
    assert "pa55word" not in redact_url("http://user:pa55word@[::1/")


# -- endless paging ------------------------------------------------------------------------------


class EndlessKarbon:
    """Karbon's Contacts list paging without end, in one of four ways."""

    def __init__(self, way: str, count: int | None = None) -> None:
        self.way, self.count, self.pages = way, count, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.pages += 1
        n = self.pages
        fresh = self.way in ("fresh-rows", "fresh-rows-counted")
        keys = [f"K{n}-{i}" if fresh else f"K{i}" for i in range(100)]
        body: dict[str, Any] = {
            "value": [{"ContactKey": k, "FullName": f"Person {k}"} for k in keys]
        }
        if self.way != "skip-ignored":  # a fresh link every time (never a repeat)
            body["@odata.nextLink"] = f"{HOST}/v3/Contacts?$skip={n * 100}&n={n}"
        if self.count is not None:
            body["@odata.count"] = self.count
        return httpx.Response(200, json=body)


@pytest.mark.parametrize(
    "way, count, max_pages, most",
    [
        ("same-rows", None, 2000, 4),  # a fresh nextLink forever, the same rows
        ("skip-ignored", None, 2000, 4),  # full pages, no link, $skip ignored
        ("fresh-rows-counted", 150, 2000, 3),  # it said 150 rows, keeps offering more
        ("fresh-rows", None, 25, 25),  # new rows forever: the hard page ceiling
    ],
)
def test_endless_karbon_paging_stops_with_a_malformed_reply(way, count, max_pages, most):
    app = EndlessKarbon(way, count)
    ipm = IpmConnector(
        HOST, TOKEN, KEY, transport=httpx.MockTransport(app), rate_limit=0, max_pages=max_pages
    )
    with pytest.raises(MalformedReply) as caught:
        list(ipm.iter_records(Kind.CONTACTS))
    assert app.pages <= most
    assert_clean(str(caught.value), "/v3/Contacts")


class EndlessLiscio:
    """Liscio's contact list with a fresh cursor forever (same items, or fresh ones)."""

    def __init__(self, fresh: bool) -> None:
        self.fresh, self.pages = fresh, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.pages += 1
        ids = [f"c{self.pages}-{i}" if self.fresh else f"c{i}" for i in range(100)]
        items = [{"id": i, "first_name": "Ann", "last_name": i, "archived": False} for i in ids]
        return httpx.Response(200, json={"items": items, "next_cursor": f"cur{self.pages}"})


@pytest.mark.parametrize("fresh, most", [(False, 4), (True, 25)])
def test_endless_liscio_cursors_stop_with_a_malformed_reply(fresh, most):
    app = EndlessLiscio(fresh)
    liscio = LiscioConnector(HOST, TOKEN, transport=httpx.MockTransport(app), max_pages=25)
    with pytest.raises(MalformedReply) as caught:
        list(liscio.iter_records(Kind.CONTACTS))
    assert app.pages <= most
    assert_clean(str(caught.value), "/v1/contacts")


@pytest.mark.parametrize(
    "link",
    ["http://[::1/v3/Contacts", "https://svc.example:port/v3/x", "0\x1b", "/v3/Contacts?\x00"],
)
def test_a_next_link_that_is_not_a_url_is_a_malformed_reply(link):
    def app(request):
        return httpx.Response(
            200,
            json={"value": [{"ContactKey": "K1", "FullName": "Ann Lee"}], "@odata.nextLink": link},
        )

    ipm = IpmConnector(HOST, TOKEN, KEY, transport=httpx.MockTransport(app), rate_limit=0)
    with pytest.raises(MalformedReply, match="next-page link is not a URL"):
        list(ipm.iter_records(Kind.CONTACTS))


def test_a_real_paging_within_the_count_is_read_whole():
    class Counted:
        def __call__(self, request: httpx.Request) -> httpx.Response:
            skip = int(request.url.params.get("$skip", 0))
            rows = [
                {"ContactKey": f"K{i}", "FullName": f"P {i}"}
                for i in range(skip, min(skip + 100, 250))
            ]
            body: dict[str, Any] = {"value": rows, "@odata.count": 250}
            if skip + 100 < 250:
                body["@odata.nextLink"] = f"{HOST}/v3/Contacts?$skip={skip + 100}"
            return httpx.Response(200, json=body)

    ipm = IpmConnector(HOST, TOKEN, KEY, transport=httpx.MockTransport(Counted()), rate_limit=0)
    assert len(list(ipm.iter_records(Kind.CONTACTS))) == 250


# -- any malformed page: a pmtools error, never a crash ------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
ROW_KEYS = (
    "ContactKey",
    "OrganizationKey",
    "FullName",
    "EmailAddress",
    "PhoneNumber",
    "LastModifiedDateTime",
    "UserDefinedIdentifier",
    "id",
    "name",
    "first_name",
    "last_name",
    "archived",
    "account_ids",
    "address",
    "primary_email",
    "updated_at",
)
LINKS = st.sampled_from(
    [
        "http://[::1/x",
        "https://svc.example:x/v3",
        "/v3/Contacts?$skip=1",
        "0\x1b",
        "https://svc.example/v3/\x00",
        "next",
        "https://other.example/v3/Contacts",
        "",
        "   ",
    ]
)
ROW = st.dictionaries(st.sampled_from(ROW_KEYS), JSON, max_size=6)
PAGE = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {"value": st.lists(ROW | JSON, max_size=3)},
        optional={"@odata.nextLink": JSON | LINKS, "@odata.count": JSON},
    ),
    st.fixed_dictionaries(
        {"items": st.lists(ROW | JSON, max_size=3)}, optional={"next_cursor": JSON | LINKS}
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page=PAGE, kind=st.sampled_from(list(Kind)), side=st.sampled_from(["ipm", "liscio"]))
def test_any_page_gives_records_or_a_pmtools_error(page, kind, side):
    served = json.dumps(page).encode()

    def app(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=served)

    transport = httpx.MockTransport(app)
    connector = (
        IpmConnector(HOST, TOKEN, KEY, transport=transport, rate_limit=0, max_pages=3)
        if side == "ipm"
        else LiscioConnector(HOST, TOKEN, transport=transport, max_pages=3)
    )
    try:
        for record in connector.iter_records(kind):
            assert isinstance(record.name, str) and isinstance(record.id, str)
            str(record).encode("utf-8")  # printable: no lone surrogate got through
    except ConnectorError as exc:
        assert TOKEN not in str(exc) and "Traceback" not in str(exc)


CARD_KEYS = (
    "IsPrimaryCard",
    "EmailAddresses",
    "PhoneNumbers",
    "WebSites",
    "Addresses",
    "RoleOrTitle",
    "Number",
    "AddressLines",
    "City",
    "CountryCode",
    "Label",
)
CARD = st.dictionaries(
    st.sampled_from(CARD_KEYS),
    JSON
    | st.lists(st.dictionaries(st.sampled_from(CARD_KEYS), JSON, max_size=4) | JSON, max_size=3),
    max_size=6,
)
ENTITY = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {"OrganizationKey": st.just("K1") | JSON, "ContactKey": st.just("K1") | JSON},
        optional={
            "FullName": JSON,
            "FirstName": JSON,
            "LastName": JSON,
            "LastModifiedDateTime": JSON,
            "BusinessCards": st.lists(CARD | JSON, max_size=2) | JSON,
        },
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entity=ENTITY, kind=st.sampled_from(list(Kind)))
def test_any_record_read_gives_a_record_or_a_pmtools_error(entity, kind):
    served = json.dumps(entity).encode()
    ipm = IpmConnector(
        HOST,
        TOKEN,
        KEY,
        rate_limit=0,
        transport=httpx.MockTransport(lambda request: httpx.Response(200, content=served)),
    )
    try:
        record = ipm.get_record(kind, "K1")
        str(record).encode("utf-8")
    except ConnectorError as exc:
        assert TOKEN not in str(exc)
