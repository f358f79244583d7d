"""HTTP plumbing both connectors share: pacing, declared retries, error classification, stats.

One :class:`HttpClient` per service and run. It paces requests with a :class:`RateLimiter`
(shared by every thread using the client), retries only what :func:`retry_reason` declares
retriable, turns failures into :mod:`pmtools.errors` exceptions, and counts what it did
(:meth:`HttpClient.stats`). Waiting goes through injected ``sleep``/``clock`` functions, so
tests run with instant waits and without monkeypatching.

Retries, declared:

- 429: the request was not processed, so every method is retried after ``Retry-After``
  seconds; the limiter holds back every other request of the client for as long.
- 5xx, timeouts and dropped connections: retried with exponential backoff for idempotent
  methods (GET, PUT, PATCH, DELETE) only. A POST is never retried blindly: a create whose
  reply was lost may have happened (connectors look it up by its external id instead).
- A connection that could not be opened at all is retried for every method: nothing was sent.

Bounds: every reply is read within a total deadline and up to a decoded size, and its JSON is
checked (:mod:`pmtools.connectors.replies`); a reply that breaks them raises MalformedReply
naming the endpoint by its path. The waits of one request's retries share a budget
(:attr:`RetryPolicy.budget`): a server asking for more (``Retry-After: 999999``) stops the run
at once with a message, and a long wait is logged as a warning that a person sees.

A base URL that is not a URL raises ConfigError. Secrets: headers are never logged; URLs are
logged redacted (:func:`redact_url`, also over httpx's own log lines:
:func:`redact_httpx_logs`); every message is scrubbed of the client's secret values before it
reaches an exception.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from pmtools.connectors import replies
from pmtools.connectors.redact import SENSITIVE, path_of, redact_httpx_logs, redact_text, redact_url
from pmtools.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    MalformedReply,
    NotFound,
    RecordError,
    ServiceError,
)

log = logging.getLogger(__name__)

LONG_WAIT = 30.0  # seconds: a Retry-After this long is a warning, not an info line
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})

Sleep = Callable[[float], None]
Clock = Callable[[], float]


def query_string(params: Mapping[str, Any]) -> str:
    """``?name=value&…`` with OData's ``$`` option names kept readable; None values left out."""
    pairs = [
        f"{quote(str(k), safe='$')}={quote(str(v), safe=chr(39) + '$(),:')}"
        for k, v in params.items()
        if v is not None
    ]
    return "?" + "&".join(pairs) if pairs else ""


def retry_reason(
    method: str, *, status: int | None = None, error: Exception | None = None
) -> str | None:
    """Why a failed attempt may be retried, or None when it must not be (the predicate)."""
    if status == 429:
        return "rate-limited"
    if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout)):
        return "connect"  # nothing reached the server
    if method.upper() not in IDEMPOTENT:
        return None
    if isinstance(error, httpx.RequestError):  # timeouts, drops, undecodable replies
        return "transport"
    if status is not None and status >= 500 and status not in (501, 505):
        return "server"
    return None


class RateLimiter:
    """Paces requests evenly to at most ``per_minute`` a minute, across threads.

    Requests are given slots ``60 / per_minute`` seconds apart (plus a little headroom), so no
    window of any length ever holds more than the limit allows: a long run goes at the limit
    without bursts that a server's window would answer with 429. ``per_minute=0`` turns pacing
    off; :meth:`hold` (after a 429) still holds every request back.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        headroom: float = 0.01,
    ) -> None:
        if per_minute < 0:
            raise ValueError("per_minute must be 0 (off) or positive")
        self.per_minute = per_minute
        self.interval = 60.0 / per_minute * (1.0 + headroom) if per_minute else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next: float | None = None
        self._hold_until = float("-inf")

    def acquire(self) -> float:
        """Wait for this request's slot; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                slot = max(now, self._hold_until)
                if self.interval and self._next is not None:
                    slot = max(slot, self._next)
                if self.interval:
                    self._next = slot + self.interval
            if slot > now:
                self._sleep(slot - now)
                waited += slot - now
            with self._lock:
                if self._hold_until <= slot:  # no 429 arrived while this request waited
                    return waited

    def hold(self, seconds: float) -> None:
        """Hold every request back ``seconds`` from now (the server said Retry-After)."""
        with self._lock:
            self._hold_until = max(self._hold_until, self._clock() + max(0.0, seconds))


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how long to retry; see :func:`retry_reason` for what is retried."""

    attempts: int = 5  # tries of one request in all, for 5xx/timeouts
    backoff: float = 0.5  # the first backoff, seconds; doubles each time
    backoff_max: float = 30.0
    jitter: float = 0.2  # up to this fraction added at random
    rate_limited_attempts: int = 20  # 429s tolerated for one request
    retry_after_default: float = 10.0  # a 429 without a usable Retry-After
    retry_after_max: float = 600.0
    budget: float = 900.0  # seconds of waiting, in all, for the retries of one request

    def backoff_for(self, attempt: int, rnd: random.Random) -> float:
        """The wait before retry number ``attempt`` (1-based)."""
        wait = min(self.backoff_max, self.backoff * 2 ** (attempt - 1))
        return wait * (1.0 + self.jitter * rnd.random())


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestStats:
    """What a client did, frozen at one moment (for benchmarks and the run report)."""

    requests: int = 0  # attempts sent, retries included
    by_method: tuple[tuple[str, int], ...] = ()
    by_kind: tuple[tuple[str, int], ...] = ()
    rate_limited: int = 0  # 429 answers seen
    retries: int = 0
    waited_seconds: float = 0.0  # pacing, Retry-After and backoff waits together
    first_at: float | None = None  # clock time of the first and last request sent
    last_at: float | None = None

    def count(self, *, method: str | None = None, kind: str | None = None) -> int:
        """Requests of one method or one kind (0 when none)."""
        if method is not None:
            return dict(self.by_method).get(method.upper(), 0)
        if kind is not None:
            return dict(self.by_kind).get(kind, 0)
        return self.requests

    def utilisation(self, per_minute: float) -> float | None:
        """Requests a second achieved ÷ allowed, between the first and last request."""
        if not per_minute or self.requests < 2 or self.first_at is None or self.last_at is None:
            return None
        span = self.last_at - self.first_at
        if span <= 0:
            return None
        return ((self.requests - 1) / span) / (per_minute / 60.0)


@dataclass(kw_only=True)
class _Counters:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    by_method: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    retries: int = 0
    waited: float = 0.0
    first_at: float | None = None
    last_at: float | None = None


def error_details(response: httpx.Response) -> tuple[str | None, str]:
    """The API's error code and message from any of the error body shapes in use.

    ``{"error": {"code", "message"}}``, ``{"error": {"statusCode", "message"}}`` and
    ``{"statusCode", "message"}``; anything else gives no code and the reason phrase.
    """
    try:
        body = replies.load_json(response.content)
    except replies.BadReply:
        return None, response.reason_phrase or "no details"
    inner = body.get("error") if isinstance(body, dict) else None
    if isinstance(inner, dict):
        body = inner
    if not isinstance(body, dict):
        return None, response.reason_phrase or "no details"
    code = body.get("code", body.get("statusCode"))
    message = body.get("message")
    return (
        None if code is None else str(code),
        str(message) if message else (response.reason_phrase or "no details"),
    )


class HttpClient:
    """One service's HTTP client: base URL, fixed headers, pacing, retries, classification.

    ``headers`` carry the credentials; the values of credential headers (Authorization,
    AccessKey, …) and ``secrets`` are scrubbed from every message.
    ``transport`` is passed to ``httpx.Client`` (an ``httpx.MockTransport`` in tests).
    """

    def __init__(
        self,
        base_url: str,
        *,
        label: str,
        side: str,
        headers: Mapping[str, str],
        secrets: tuple[str, ...] = (),
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        rate_limit: float = 0,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        seed: int | None = None,
        deadline: float = replies.DEADLINE,
        max_bytes: int = replies.MAX_BODY,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.label = label
        self.side = side
        # credential headers' values, and in "Bearer <token>" the token alone, are secrets
        creds = [v for k, v in headers.items() if SENSITIVE.search(k)]
        values = (*secrets, *creds, *(part for v in creds for part in v.split()[1:]))
        self._secrets = tuple(
            sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True)
        )
        self._sleep = sleep
        self._clock = clock
        self.retry = retry or RetryPolicy()
        self.limiter = limiter or RateLimiter(rate_limit, clock=clock, sleep=sleep)
        self._rnd = random.Random(seed)
        self._counters = _Counters()
        self.deadline = deadline
        self.max_bytes = max_bytes
        # only encodings replies.read_body decodes within its size bound
        sent = {"Accept-Encoding": "gzip, deflate", **dict(headers)}
        # ``timeout`` bounds each read (a silent server); ``deadline`` the whole request
        self._client = httpx.Client(
            headers=sent,
            transport=transport,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
        )
        redact_httpx_logs()

    def __repr__(self) -> str:
        return f"HttpClient({self.label}, {redact_url(self.base_url)!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    # -- the one request loop -------------------------------------------------------------

    def url(self, path: str) -> str:
        """An absolute URL for ``path`` under the base URL (absolute URLs pass through)."""
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + "/" + path.lstrip("/")

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        kind: str = "other",
    ) -> httpx.Response:
        """Send one request with pacing and retries; return a 2xx response or raise.

        ``kind`` labels the request in :meth:`stats` (e.g. ``list``, ``read``, ``write``).
        Raises AuthError, NotFound, RecordError or ServiceError (see :meth:`error_for`);
        MalformedReply for a reply too large, too slow or not JSON-safe; ServiceError when
        the retries' waits would pass :attr:`RetryPolicy.budget`.
        """
        method = method.upper()
        url = self.url(path)
        attempt = 0
        rate_limited = 0
        budget_left = self.retry.budget
        while True:
            budget_left -= self._waited(self.limiter.acquire())
            self._count_sent(method, kind)
            try:
                response = self._send(method, url, params=params, json=json)
            except replies.BadReply as exc:
                raise self.malformed(url, str(exc), method=method) from None
            except httpx.InvalidURL:
                raise ConfigError(f"{self.label} URL is not valid: {redact_url(url)!r}") from None
            except httpx.UnsupportedProtocol:
                raise ConfigError(
                    f"{self.label} URL must start with http:// or https://: {redact_url(url)!r}"
                ) from None
            except httpx.RequestError as exc:
                attempt += 1
                reason = retry_reason(method, error=exc)
                shown = redact_url(exc.request.url if _has_request(exc) else url)
                log.debug("%s %s %s failed: %s", self.label, method, shown, type(exc).__name__)
                if reason and attempt < self.retry.attempts:
                    budget_left -= self.backoff(attempt, budget_left=budget_left, url=url)
                    continue
                raise ServiceError(
                    self.scrub(
                        f"{self.label} {method} {shown} failed ({type(exc).__name__}: "
                        f"{redact_text(str(exc))})"
                        + (f" after {attempt} tries" if attempt > 1 else "")
                    ),
                    side=self.side,
                ) from None
            log.debug(
                "%s %s %s -> %d",
                self.label,
                method,
                redact_url(response.request.url),
                response.status_code,
            )
            status = response.status_code
            if 200 <= status < 300:
                return response
            if status == 429:
                rate_limited += 1
                with self._counters.lock:
                    self._counters.rate_limited += 1
                if rate_limited <= self.retry.rate_limited_attempts:
                    asked = self._retry_after(response)
                    self._check_budget(asked, budget_left, url, "is rate-limited")
                    wait = min(asked, self.retry.retry_after_max)
                    if wait >= LONG_WAIT:  # a person should know why nothing moves
                        log.warning(
                            "%s is rate-limiting pmtools and asks it to wait %.0f s "
                            "before the next request; waiting",
                            self.label,
                            wait,
                        )
                    else:
                        log.info("%s rate-limited; waiting %.1f s", self.label, wait)
                    self.limiter.hold(wait)
                    self._count_retry()
                    continue
            else:
                attempt += 1
                if retry_reason(method, status=status) and attempt < self.retry.attempts:
                    budget_left -= self.backoff(attempt, budget_left=budget_left, url=url)
                    continue
            raise self.error_for(response, tries=attempt + rate_limited)

    def _send(
        self, method: str, url: str, *, params: Mapping[str, Any] | None, json: Any
    ) -> httpx.Response:
        """One attempt: the reply read whole, within the deadline and the size bound."""
        deadline = self._clock() + self.deadline
        request = self._client.build_request(method, url, params=params, json=json)
        response = self._client.send(request, stream=True)
        try:
            body = replies.read_body(
                response, max_bytes=self.max_bytes, deadline=deadline, clock=self._clock
            )
        finally:
            response.close()
        return replies.with_body(response, body)

    def _check_budget(self, wait: float, budget_left: float, url: str, why: str) -> None:
        if wait > budget_left:
            raise ServiceError(
                f"{self.label} {why} and asks pmtools to wait {_duration(wait)} more at "
                f"{path_of(url)}, beyond the retry budget of {_duration(self.retry.budget)}: "
                "run the same command again later",
                side=self.side,
            )

    def malformed(
        self, url: str | httpx.URL, problem: str, *, method: str = "GET"
    ) -> MalformedReply:
        """A MalformedReply naming the endpoint by its path (not raised here)."""
        return MalformedReply(
            self.scrub(
                f"{self.label} sent a reply pmtools cannot use at {method} {path_of(url)} "
                f"({problem}); nothing was written from it: run the same command again later, "
                f"and tell {self.label}'s support if it keeps happening"
            ),
            side=self.side,
        )

    def _retry_after(self, response: httpx.Response) -> float:
        raw = response.headers.get("Retry-After", "").strip()
        wait: float | None = None
        if raw:
            try:
                wait = float(raw)
            except ValueError:
                try:
                    wait = parsedate_to_datetime(raw).timestamp() - time.time()
                except (TypeError, ValueError):
                    wait = None
        if wait is None or not math.isfinite(wait) or wait < 0:
            wait = self.retry.retry_after_default
        # "Retry-After: 0" would otherwise turn into a burst of immediate retries; the cap
        # (retry_after_max) is applied by the caller, after the budget saw what was asked
        return max(wait, 0.5)

    def backoff(self, attempt: int, *, budget_left: float | None = None, url: str = "") -> float:
        """Sleep the backoff before retry number ``attempt`` (counted in :meth:`stats`).

        Returns the seconds slept; raises ServiceError when that would pass ``budget_left``.
        """
        wait = self.retry.backoff_for(attempt, self._rnd)
        if budget_left is not None:
            self._check_budget(wait, budget_left, url or self.base_url, "keeps failing")
        self._count_retry()
        self._sleep(wait)
        return self._waited(wait)

    # -- errors -----------------------------------------------------------------------------

    def error_for(self, response: httpx.Response, *, tries: int = 1) -> ConnectorError:
        """Classify a failed response into a pmtools error (not raised here).

        401 and 403 → AuthError (a 403 with a Karbon record code such as 4021 → RecordError);
        404 → NotFound; other 4xx → RecordError; 5xx and anything else → ServiceError.
        """
        status = response.status_code
        code, api_message = error_details(response)
        where = f"{response.request.method} {redact_url(response.request.url)}"
        text = f"{self.label} {where} → {status}" + (f" [{code}]" if code else "")
        text += f": {api_message}" + (f" (after {tries} tries)" if tries > 1 else "")
        text = self.scrub(text)
        kwargs = {"side": self.side, "status": status, "code": code}
        if status == 401 or (
            status == 403 and (code is None or not code.isdigit() or code in ("401", "403"))
        ):
            return AuthError(text + " — check the credentials", **kwargs)
        if status == 404:
            return NotFound(text, **kwargs)
        if status == 429:
            return ServiceError(text + " — still rate-limited", **kwargs)
        if 400 <= status < 500:
            return RecordError(text, **kwargs)
        return ServiceError(text, **kwargs)

    def parse_json(self, response: httpx.Response) -> Any:
        """The reply's JSON; MalformedReply with a clear message when it is not usable JSON."""
        try:
            return replies.load_json(response.content)
        except replies.BadReply as exc:
            kind = response.headers.get("Content-Type", "no content type")
            problem = str(exc) + (
                f" ({kind[:40]}, {len(response.content)} bytes)"
                if str(exc) == "the reply is not JSON"
                else ""
            )
            raise self.malformed(
                response.request.url, problem, method=response.request.method
            ) from None

    def scrub(self, text: str) -> str:
        """``text`` with every secret value of this client replaced by ***."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    # -- stats ------------------------------------------------------------------------------

    def stats(self) -> RequestStats:
        """A frozen snapshot of the counters."""
        c = self._counters
        with c.lock:
            return RequestStats(
                requests=c.requests,
                by_method=tuple(sorted(c.by_method.items())),
                by_kind=tuple(sorted(c.by_kind.items())),
                rate_limited=c.rate_limited,
                retries=c.retries,
                waited_seconds=c.waited,
                first_at=c.first_at,
                last_at=c.last_at,
            )

    def _count_sent(self, method: str, kind: str) -> None:
        now = self._clock()
        c = self._counters
        with c.lock:
            c.requests += 1
            c.by_method[method] += 1
            c.by_kind[kind] += 1
            c.first_at = now if c.first_at is None else c.first_at
            c.last_at = now

    def _count_retry(self) -> None:
        with self._counters.lock:
            self._counters.retries += 1

    def _waited(self, seconds: float) -> float:
        if seconds > 0:
            with self._counters.lock:
                self._counters.waited += seconds
        return seconds


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 60:.0f} minutes" if seconds >= 120 else f"{seconds:.0f} s"


def _has_request(exc: httpx.RequestError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when unset
    except RuntimeError:
        return False
    return True
