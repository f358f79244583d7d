"""A hostile reverse proxy for the tests: real loopback HTTP in front of the simulator.

Every request is forwarded to the simulator, except that a *mode* may answer the requests of
one path instead (a hostile reply built from the simulator's real one). The proxy records the
writes it forwarded (any method but GET), so a test can assert that nothing was written after
a failed read. A mode that streams without end (the trickle) stops when the client hangs up or
the proxy stops; the tests never wait on it.
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx

Mode = Callable[["HostileProxy", BaseHTTPRequestHandler, httpx.Response], None]
_FORWARDED = ("authorization", "accesskey", "content-type", "accept")


class HostileProxy:
    """Forwards to ``upstream``; :meth:`set` makes one path hostile."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.target = ""
        self.mode: Mode | None = None
        self.hits = 0  # requests the mode answered
        self.writes: list[str] = []  # "METHOD /path" of every write forwarded
        self.memo: dict[str, Any] = {}  # what a mode keeps between requests
        self.stopping = threading.Event()
        self._client = httpx.Client(timeout=60)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                proxy.handle(self)

            do_POST = do_PUT = do_PATCH = do_DELETE = do_GET  # noqa: N815

            def log_message(self, *args: Any) -> None:  # quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HostileProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def set(self, target: str = "", mode: Mode | None = None) -> None:
        """Answer requests of path ``target`` with ``mode`` (no arguments: forward all)."""
        self.target, self.mode, self.hits = target, mode, 0
        self.writes.clear()
        self.memo.clear()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        headers = {k: v for k, v in h.headers.items() if k.lower() in _FORWARDED}
        upstream = self._client.request(
            h.command, self.upstream + h.path, content=body, headers=headers
        )
        if h.command != "GET":
            self.writes.append(f"{h.command} {urlsplit(h.path).path}")
        if self.mode is not None and urlsplit(h.path).path == self.target:
            self.hits += 1
            self.mode(self, h, upstream)
        else:
            send(
                h,
                upstream.status_code,
                upstream.content,
                {"Content-Type": upstream.headers.get("Content-Type", "application/json")},
            )


def send(
    h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    """Write a whole reply."""
    h.send_response(status)
    for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
        h.send_header(key, value)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def send_json(h: BaseHTTPRequestHandler, value: Any, status: int = 200) -> None:
    send(h, status, json.dumps(value).encode())


# -- the modes -----------------------------------------------------------------------------------


def endless_next_link(proxy: HostileProxy, h: BaseHTTPRequestHandler, up: httpx.Response) -> None:
    """Karbon's page as it is, with a fresh @odata.nextLink every time (never a repeat)."""
    page = up.json()
    page["@odata.nextLink"] = f"{proxy.url}{proxy.target}?$skip=0&n={proxy.hits}"
    send_json(h, page)


def skip_ignored(proxy: HostileProxy, h: BaseHTTPRequestHandler, up: httpx.Response) -> None:
    """The same full page of 100 people, whatever $skip says, and no link."""
    send_json(
        h,
        {
            "value": [
                {"ContactKey": f"same-{i}", "FullName": f"Same Person {i}"} for i in range(100)
            ]
        },
    )


def announced_count(proxy: HostileProxy, h: BaseHTTPRequestHandler, up: httpx.Response) -> None:
    """New rows on every page, a fresh link, and an @odata.count that says 150 in all."""
    n = proxy.hits
    send_json(
        h,
        {
            "@odata.count": 150,
            "@odata.nextLink": f"{proxy.url}{proxy.target}?$skip={n * 100}",
            "value": [
                {"ContactKey": f"p{n}-{i}", "FullName": f"Person {n}-{i}"} for i in range(100)
            ],
        },
    )


def endless_cursor(proxy: HostileProxy, h: BaseHTTPRequestHandler, up: httpx.Response) -> None:
    """Liscio's first page again and again, with a fresh next_cursor every time."""
    if proxy.hits == 1:  # the simulator refuses the made-up cursors: keep its first page
        proxy.memo["first"] = up.json()
    page = dict(proxy.memo["first"])
    page["next_cursor"] = f"cursor-{proxy.hits}"
    send_json(h, page)


def fresh_items_forever(proxy: HostileProxy, h: BaseHTTPRequestHandler, up: httpx.Response) -> None:
    """New Liscio contacts on every page, without end."""
    n = proxy.hits
    items = [
        {
            "id": f"fresh-{n}-{i}",
            "first_name": "New",
            "last_name": f"Person{n}x{i}",
            "middle_name": None,
            "title": None,
            "primary_email": None,
            "account_ids": [],
            "created_by": "firm",
            "archived": False,
            "external_id": None,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }
        for i in range(100)
    ]
    send_json(h, {"items": items, "next_cursor": f"fresh-{n}"})


def trickle(proxy: HostileProxy, h: BaseHTTPRequestHandler, up: httpx.Response) -> None:
    """Headers, then one byte at a time, without end (until the client hangs up)."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.end_headers()
    try:
        h.wfile.write(b"{")
        while not proxy.stopping.wait(0.05):
            h.wfile.write(b" ")
            h.wfile.flush()
    except OSError:  # the client gave up: the point of the test
        return


_BOMB: list[bytes] = []


def gzip_bomb(proxy: HostileProxy, h: BaseHTTPRequestHandler, up: httpx.Response) -> None:
    """About 80 KB of gzip that expands to 80 MB (past the 64 MB cap)."""
    if not _BOMB:
        packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        block = b" " * (1 << 20)
        _BOMB.append(b"".join(packer.compress(block) for _ in range(80)) + packer.flush())
    send(h, 200, _BOMB[0], {"Content-Encoding": "gzip"})


def deep_nesting(proxy: HostileProxy, h: BaseHTTPRequestHandler, up: httpx.Response) -> None:
    """JSON nested 100,000 deep (Python's parser ends in RecursionError)."""
    send(h, 200, b'{"value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")


def lone_surrogate(proxy: HostileProxy, h: BaseHTTPRequestHandler, up: httpx.Response) -> None:
    """The real page, its first name holding a lone surrogate (``\\ud800``)."""
    page = up.json()
    rows = page.get("value") if "value" in page else page.get("items")
    key = "FullName" if "value" in page else "first_name"
    rows[0][key] = "Bad \ud800 Name"
    send(h, 200, json.dumps(page).encode())  # ensure_ascii: written as the escape


def retry_after_forever(proxy: HostileProxy, h: BaseHTTPRequestHandler, up: httpx.Response) -> None:
    """429 with Retry-After: 999999."""
    send(h, 429, b'{"error": {"code": "429", "message": "slow down"}}', {"Retry-After": "999999"})


def not_json(proxy: HostileProxy, h: BaseHTTPRequestHandler, up: httpx.Response) -> None:
    """An HTML page where JSON belongs."""
    send(h, 200, b"<html><body>Down for maintenance</body></html>", {"Content-Type": "text/html"})


def wrong_shape(proxy: HostileProxy, h: BaseHTTPRequestHandler, up: httpx.Response) -> None:
    """A page whose list is not a list."""
    send_json(h, {"value": "rows", "items": "rows", "next_cursor": None})


def wrong_types(field: str, value: Any) -> Mode:
    """The real page, its first row's ``field`` replaced by ``value`` (a wrong type)."""

    def mode(proxy: HostileProxy, h: BaseHTTPRequestHandler, up: httpx.Response) -> None:
        page = up.json()
        rows = page.get("value") if "value" in page else page.get("items")
        rows[0][field] = value
        send_json(h, page)

    mode.__name__ = f"wrong_type_{field}"
    return mode
