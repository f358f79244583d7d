"""What stands between a client and the simulated services: credentials, the rate limit,
latency and injected faults.

``--faults`` takes ``KIND=PROBABILITY`` pairs, e.g.
``500=0.05,429=0.05,timeout=0.01,drop-after-commit=0.02``. Each request draws once from a
seeded generator:

- ``500``: answered 500 before anything is done (IPM: ``{"error": {"code": "5001", …}}``).
- ``429``: answered 429 with ``Retry-After: 1`` before anything is done (``retry-after=N``
  in the spec sets N, e.g. 0 to keep fault runs fast).
- ``409`` (IPM PUT/PATCH only): answered 409 / 4020 before anything is done.
- ``timeout``: the request hangs ``hang_seconds`` (longer than a client's timeout), then the
  connection is dropped without an answer.
- ``drop-after-commit`` (creates and updates only): the request is carried out and committed,
  then the connection is dropped instead of answering: the client sees a transport error
  although the change was made — the case that makes duplicates.

The rate limit (IPM only) is a sliding 60-second window per pair of credentials; requests over
it are answered 429 with ``Retry-After`` in whole seconds and are not counted.

For tests that kill a client in the middle of a write, :class:`WriteHold` holds the N-th write
request (counted over both services) until the test has killed the client and releases it.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import math
import random
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FAULT_KINDS = ("500", "429", "409", "timeout", "drop-after-commit")
WRITES = frozenset({"POST", "PUT", "PATCH"})


class DroppedConnection(Exception):
    """Raised after a response has started, so that the server closes the connection."""


class _QuietDrops(logging.Filter):
    """Keeps uvicorn from logging a traceback for every deliberately dropped connection, and
    for a ``timeout`` fault's hang cut short when the simulator stops."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, (DroppedConnection, asyncio.CancelledError)):
            return False
        return not str(record.msg).startswith("Cancel %s running task(s)")


def quiet_dropped_connections() -> None:
    """Install the filter on uvicorn's error logger (idempotent)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """Probabilities of each fault kind; parse with :meth:`parse`."""

    probabilities: tuple[tuple[str, float], ...] = ()
    retry_after: int = 1  # the Retry-After of an injected 429, whole seconds

    @classmethod
    def parse(cls, text: str | None) -> FaultSpec:
        """Parse ``KIND=P,KIND=P``; raises ValueError naming what is wrong."""
        if text is None or not text.strip():
            return cls()
        pairs: dict[str, float] = {}
        retry_after = 1
        for item in text.split(","):
            kind, sep, raw = item.strip().partition("=")
            if kind == "retry-after" and sep and raw.strip().isdigit():
                retry_after = int(raw)
                continue
            if not sep or kind not in FAULT_KINDS:
                raise ValueError(
                    f"fault {item.strip()!r}: expected KIND=PROBABILITY with KIND "
                    f"one of {', '.join(FAULT_KINDS)}"
                )
            try:
                chance = float(raw)
            except ValueError:
                raise ValueError(f"fault {item.strip()!r}: {raw!r} is not a number") from None
            if not 0 <= chance <= 1:
                raise ValueError(f"fault {item.strip()!r}: probability must be from 0 to 1")
            pairs[kind] = chance
        if sum(pairs.values()) > 1:
            raise ValueError("fault probabilities add up to more than 1")
        return cls(tuple(pairs.items()), retry_after)

    def __str__(self) -> str:
        text = ",".join(f"{k}={p:g}" for k, p in self.probabilities)
        return f"{text},retry-after={self.retry_after}" if self.retry_after != 1 else text

    def draw(self, rng: random.Random) -> str | None:
        """One fault kind, or None, drawn with these probabilities."""
        if not self.probabilities:
            return None
        roll, total = rng.random(), 0.0
        for kind, chance in self.probabilities:
            total += chance
            if roll < total:
                return kind
        return None


class RateLimiter:
    """A sliding-window limit: at most ``per_minute`` accepted requests in any 60 seconds."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._windows: dict[Any, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def admit(self, who: Any) -> int | None:
        """Count a request by ``who``; None when admitted, else seconds to wait (≥ 1)."""
        if self.per_minute <= 0:
            return None
        now = self._clock()
        with self._lock:
            window = self._windows.setdefault(who, collections.deque())
            while window and window[0] <= now - 60:
                window.popleft()
            if len(window) < self.per_minute:
                window.append(now)
                return None
            return max(1, math.ceil(window[0] + 60 - now))


@dataclass(slots=True)
class Stats:
    """Requests seen, by side and by outcome (for tests and benchmarks)."""

    counts: collections.Counter[str] = field(default_factory=collections.Counter)

    def add(self, side: str, outcome: str, method: str | None = None) -> None:
        """Count one request of ``side`` ending in ``outcome`` (a status or a fault kind).

        Keys: ``ipm``, ``ipm:<outcome>``, ``ipm:<METHOD>`` and ``ipm:<outcome>:<METHOD>``
        (the same for ``liscio``).
        """
        self.counts[side] += 1
        self.counts[f"{side}:{outcome}"] += 1
        if method is not None:
            self.counts[f"{side}:{method}"] += 1
            self.counts[f"{side}:{outcome}:{method}"] += 1

    def snapshot(self) -> dict[str, int]:
        """A copy of the counters."""
        return dict(self.counts)


class WriteHold:
    """Holds the ``at``-th write request (POST, PUT or PATCH, over both services) unanswered.

    For tests that kill a client mid-write on observed progress rather than after a guessed
    time: ``reached`` is set once that request is held (with ``commit``, after it was carried
    out and committed; without, before anything was done), so the client is known to be
    waiting for the reply of its ``at``-th write. After :meth:`release` the held connection is
    dropped without an answer and nothing more is held.
    """

    def __init__(self, *, at: int, commit: bool) -> None:
        if at < 1:
            raise ValueError("the held write is counted from 1")
        self.at, self.commit = at, commit
        self.reached = threading.Event()
        self._released = threading.Event()
        self._seen = 0
        self._lock = threading.Lock()

    def take(self, method: str) -> bool:
        """Count one request; True when it is the write to hold."""
        if method not in WRITES:
            return False
        with self._lock:
            self._seen += 1
            return self._seen == self.at

    def release(self) -> None:
        """Let the held request end (its connection is dropped)."""
        self._released.set()

    async def hold(self) -> None:
        """Signal ``reached``, then wait for :meth:`release` without blocking the server."""
        self.reached.set()
        await asyncio.to_thread(self._released.wait)


class ServiceGuard:
    """ASGI middleware for one simulated service (``side`` is ``"ipm"`` or ``"liscio"``).

    ``credentials`` maps header name to the exact value required, e.g.
    ``{"authorization": "Bearer …", "accesskey": "…"}``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        side: str,
        credentials: dict[str, str],
        limiter: RateLimiter | None,
        faults: FaultSpec,
        rng: random.Random,
        latency_ms: int = 0,
        hang_seconds: float = 35.0,
        stats: Stats | None = None,
    ) -> None:
        self.app, self.side, self.credentials = app, side, credentials
        self.limiter, self.faults, self.rng = limiter, faults, rng
        self.latency_ms, self.hang_seconds = latency_ms, hang_seconds
        self.stats = stats or Stats()
        self.hold: WriteHold | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        if any(headers.get(name) != value for name, value in self.credentials.items()):
            self.stats.add(self.side, "401")
            await self._reply(send, 401, self._unauthorized())
            return
        if self.limiter is not None:
            wait = self.limiter.admit(tuple(headers.get(n) for n in self.credentials))
            if wait is not None:
                self.stats.add(self.side, "429-limit")
                await self._reply(send, 429, self._rate_limited(wait), retry_after=wait)
                return
        method = scope["method"]
        fault = self.faults.draw(self.rng)
        if fault == "409" and (self.side != "ipm" or method not in ("PUT", "PATCH")):
            fault = None
        if fault == "drop-after-commit" and method not in WRITES:
            fault = None
        self.stats.add(self.side, fault or "ok", method)
        hold = self.hold
        if fault is None and hold is not None and hold.take(method):
            if hold.commit:
                await self.app(scope, receive, _discard)
            await hold.hold()
            await self._drop(send)
        elif fault == "500":
            await self._reply(send, 500, self._internal())
        elif fault == "429":
            wait = self.faults.retry_after
            await self._reply(send, 429, self._rate_limited(wait), retry_after=wait)
        elif fault == "409":
            await self._reply(
                send,
                409,
                {
                    "error": {
                        "code": "4020",
                        "message": (
                            "The resource was modified by another request. Refetch the latest "
                            "version and retry."
                        ),
                    }
                },
            )
        elif fault == "timeout":
            await asyncio.sleep(self.hang_seconds)
            await self._drop(send)
        elif fault == "drop-after-commit":
            await self.app(scope, receive, _discard)
            await self._drop(send)
        else:
            await self.app(scope, receive, send)

    def _unauthorized(self) -> dict[str, Any]:
        if self.side == "ipm":
            return {"error": {"statusCode": "401", "message": "JWT not present."}}
        return {"error": {"code": "unauthorized", "message": "Missing or wrong bearer token."}}

    def _rate_limited(self, wait: int) -> dict[str, Any]:
        message = f"Rate limit is exceeded. Try again in {wait} seconds."
        if self.side == "ipm":
            return {"statusCode": "429", "message": message}
        return {"error": {"code": "rate_limited", "message": message}}

    def _internal(self) -> dict[str, Any]:
        if self.side == "ipm":
            return {
                "error": {
                    "code": "5001",
                    "message": "Unexpected Internal Error. Please "
                    "contact Karbon HQ Technical support.",
                }
            }
        return {"error": {"code": "internal", "message": "Internal error."}}

    @staticmethod
    async def _reply(
        send: Send, status: int, body: dict[str, Any], retry_after: int | None = None
    ) -> None:
        data = json.dumps(body).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()),
        ]
        if retry_after is not None:
            headers.append((b"retry-after", str(retry_after).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    @staticmethod
    async def _drop(send: Send) -> None:
        # Start a response that promises a body, then fail: the server closes the connection
        # and the client sees a transport error, not an HTTP status.
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"4096")],
            }
        )
        raise DroppedConnection("connection dropped by the simulator's fault injection")


async def _discard(message: Message) -> None:
    """A ``send`` that throws the inner app's reply away."""
