"""Paging: one listing may not run without end (:class:`PageGuard`); Karbon's page links."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from pmtools.errors import ServiceError

if TYPE_CHECKING:
    from pmtools.connectors.http import HttpClient
    from pmtools.errors import MalformedReply

MAX_PAGES = 2000  # pages of one listing: 200,000 records of a kind at 100 a page
EMPTY_PAGES = 3  # pages in a row that bring no new record before a listing is called endless


class PageGuard:
    """Bounds one listing: raises MalformedReply when it looks endless.

    Endless means: a page link or cursor that came back (a loop); more pages than the
    ``@odata.count`` the service announced allows; :data:`EMPTY_PAGES` pages in a row that
    brought no record not seen before (``$skip`` ignored); or more than ``max_pages`` pages.
    Unbounded, such a listing once ran for minutes holding the state file's lock.
    """

    def __init__(
        self,
        client: HttpClient,
        what: str,
        *,
        endpoint: str = "",
        page_size: int = 100,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self._client = client
        self._what = what
        self._endpoint = endpoint
        self._page_size = max(1, page_size)
        self._max_pages = max(1, max_pages)
        self._seen: set[str] = set()
        self._pages = 0
        self._empty = 0

    def check(self, token: str) -> None:
        """Raise when ``token`` (the next page's link or cursor) came back in this listing."""
        if token in self._seen:
            raise self._endless(
                f"a paging loop: the next page of {self._what} is one it sent "
                "before, so the listing would never end"
            )
        self._seen.add(token)

    def page(self, *, new_rows: int, count: Any = None) -> None:
        """Account for one page read, before following its next page; raise when endless.

        ``new_rows``: records of this page not seen earlier in the listing; ``count``: the
        page's ``@odata.count`` (anything but a whole number is ignored).
        """
        self._pages += 1
        self._empty = 0 if new_rows else self._empty + 1
        if self._empty >= EMPTY_PAGES:
            raise self._endless(
                f"{self._empty} pages of {self._what} in a row brought no record not listed before"
            )
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            allowed = math.ceil(count / self._page_size) + 1  # room for rows added meanwhile
            if self._pages >= allowed:
                raise self._endless(
                    f"it announced {count} {self._what} in all, yet offers page {self._pages + 1}"
                )
        if self._pages >= self._max_pages:
            raise self._endless(
                f"it offers more than {self._max_pages} pages of {self._what}; stopping there"
            )

    def _endless(self, problem: str) -> MalformedReply:
        return self._client.malformed(self._endpoint or self._what, problem)


def resolve_link(client: HttpClient, link: str, current: str) -> str:
    """The absolute URL of a nextLink: absolute, root-relative or relative.

    ServiceError when it points to another server (the credentials are not sent there);
    MalformedReply when it is not a URL at all.
    """
    base = urlsplit(client.base_url)
    try:
        target = urlsplit(link)
        target.port  # noqa: B018 - raises ValueError for a port that is not a number
        httpx.URL(urljoin(current, link))  # control characters, bad hosts, …
    except (ValueError, httpx.InvalidURL):
        raise client.malformed(current, "its next-page link is not a URL") from None
    if link.startswith(("http://", "https://")):
        if (target.scheme, target.netloc) != (base.scheme, base.netloc):
            raise ServiceError(
                f"{client.label} paging link points to another server "
                f"({target.hostname}); not sending the credentials there",
                side=client.side,
            )
        return link
    if link.startswith("/"):
        prefix = base.path.rstrip("/")
        if prefix and link != prefix and not link.startswith(prefix + "/"):
            link = prefix + link
        return urlunsplit((base.scheme, base.netloc, "", "", "")) + link
    return urljoin(current, link)


def skip_of(url: httpx.URL) -> int:
    """The ``$skip`` of a page's URL (0 when absent or not a number)."""
    raw = url.params.get("$skip")
    try:
        return max(0, int(raw)) if raw is not None else 0
    except ValueError:
        return 0
