"""Reading a reply safely: bounded in time and size, its JSON checked before anyone uses it.

httpx decodes gzip as it reads but puts no bound on the decoded size (a 0.4 MB body once
expanded to 1.26 GB), and its timeouts bound each read, not the request (a body trickled one
byte every few seconds never timed out). So :class:`~pmtools.connectors.http.HttpClient`
streams every reply and :func:`read_body` decodes it here with zlib's ``max_length``, checking a
total deadline between chunks. We keep this small decoder instead of httpx's because httpx's
decoders take no output bound: one 64 KB chunk can expand to hundreds of megabytes before any
check could run.

:func:`load_json` turns a body into JSON and refuses what would crash later: nesting deeper
than any reply of either API (Python's parser ends in RecursionError) and lone surrogates
(``"\\ud800"``), which cannot be printed or stored as UTF-8.

Both raise :class:`BadReply` with a short reason; the client turns it into
:class:`~pmtools.errors.MalformedReply` naming the endpoint.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable
from typing import Any

import httpx

MAX_BODY = 64 * 1024 * 1024  # decoded bytes of one reply; a 100-row page is ~0.3 MB
MAX_DEPTH = 32  # the deepest reply of either API (a card's address) is 5 levels
DEADLINE = 120.0  # seconds for one request, its whole body included

# gzip or zlib-wrapped deflate, told apart by their headers (32 + the window size)
_AUTO_WBITS = 32 + zlib.MAX_WBITS
_ENCODINGS = {
    "": None,
    "identity": None,
    "gzip": _AUTO_WBITS,
    "x-gzip": _AUTO_WBITS,
    "deflate": _AUTO_WBITS,
}


class BadReply(ValueError):
    """A reply that cannot be used; the message says why (no URL, no data from the reply)."""


def read_body(
    response: httpx.Response, *, max_bytes: int, deadline: float, clock: Callable[[], float]
) -> bytes:
    """The decoded body of a streamed ``response``, at most ``max_bytes`` bytes.

    Raises BadReply when the body is larger, arrives after ``deadline`` (a ``clock()`` time),
    or is encoded in a way we did not ask for or cannot decode.
    """
    if response.is_stream_consumed:  # built whole in memory (a test's MockTransport app)
        if len(response.content) > max_bytes:
            raise BadReply(f"the reply is larger than {_megabytes(max_bytes)}")
        return response.content
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in _ENCODINGS:
        raise BadReply(f"the reply is encoded as {encoding[:20]!r}, which was not asked for")
    wbits = _ENCODINGS[encoding]
    decoder = zlib.decompressobj(wbits) if wbits is not None else None
    parts: list[bytes] = []
    size = 0

    def take(data: bytes) -> None:
        nonlocal size
        size += len(data)
        if size > max_bytes:
            raise BadReply(f"the reply is larger than {_megabytes(max_bytes)}")
        parts.append(data)

    try:
        for chunk in response.iter_raw():
            if clock() > deadline:
                raise BadReply("the reply did not arrive within the request deadline")
            if decoder is None:
                take(chunk)
                continue
            data = chunk
            while data and not decoder.eof:
                # never more than one byte past the cap in memory, however well it compresses
                take(decoder.decompress(data, max_bytes - size + 1))
                data = decoder.unconsumed_tail
        if decoder is not None:
            take(decoder.flush())
    except zlib.error:
        raise BadReply(f"the reply's {encoding} encoding is broken") from None
    if clock() > deadline:
        raise BadReply("the reply did not arrive within the request deadline")
    return b"".join(parts)


def with_body(response: httpx.Response, body: bytes) -> httpx.Response:
    """A complete response holding the decoded ``body`` (no Content-Encoding any more)."""
    drop = {"content-encoding", "content-length", "transfer-encoding"}
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in drop]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=response.request,
        extensions=response.extensions,
    )


def load_json(body: bytes) -> Any:
    """The JSON value of ``body``; BadReply when it is not JSON or would crash its reader."""
    try:
        value = json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        raise BadReply(f"the reply is nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError):
        raise BadReply("the reply is not JSON") from None
    check_json(value)
    return value


def check_json(value: Any) -> None:
    """Raise BadReply when ``value`` nests deeper than MAX_DEPTH or holds a lone surrogate."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:  # a loop, not recursion: the value may be as deep as the parser allowed
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise BadReply(f"the reply is nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                for key, inner in item.items():
                    _check_text(key)
                    stack.append((inner, depth + 1))
            else:
                stack.extend((inner, depth + 1) for inner in item)


def _check_text(text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadReply(
            "the reply holds text that is not valid Unicode (a lone surrogate)"
        ) from None


def _no_constant(name: str) -> float:
    raise BadReply(f"the reply holds {name}, which is not JSON")


def _megabytes(n: int) -> str:
    return f"{math.ceil(n / 1024 / 1024)} MB" if n >= 1024 * 1024 else f"{n} bytes"
