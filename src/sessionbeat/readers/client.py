"""A typed HTTP client of the aggregator's API (httpx), for the CLI readers and the dashboard.

Every method returns the models of ``sessionbeat.models`` (the API's response models), or the
raw JSON where a caller must print exactly what the API said (:meth:`ApiClient.sessions_json`).
Errors are named: a connection failure, a timeout or an unexpected status raise
:class:`~sessionbeat.errors.ApiUnavailableError` (with the URL and a hint), a 404 raises
:class:`~sessionbeat.errors.NotFoundError` and a 401 raises
:class:`~sessionbeat.errors.UnauthorizedError`.

Example::

    with ApiClient("http://127.0.0.1:8787", token=None) as api:
        for view in api.list_sessions(status=SessionStatus.NEEDS_APPROVAL):
            print(view.host, view.session_id, view.tool)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx
from pydantic import BaseModel, TypeAdapter

from sessionbeat.errors import ApiUnavailableError, NotFoundError, UnauthorizedError
from sessionbeat.models import (
    ExportFormat,
    Health,
    HistoryEntry,
    HistoryPage,
    HostView,
    NotifyStatus,
    Overview,
    SessionDetail,
    SessionRemoved,
    SessionStatus,
    SessionView,
    Summary,
)

DEFAULT_TIMEOUT = 10.0
"""Seconds to wait for a response (connect, read, write, pool)."""

HINT = "is the aggregator running (`sessionbeat aggregator` or `sessionbeat up`)? Check --api-url"

PAGE_MAX = 1000
"""The largest ``limit`` of ``GET /sessions`` (and of ``GET /overview``)."""

_SESSION_LIST = TypeAdapter(list[SessionView])
_HOST_LIST = TypeAdapter(list[HostView])


class ApiEvent(BaseModel):
    """One Server-Sent Event of ``GET /events``: its name and parsed payload.

    ``event`` is ``ready`` (payload :class:`Health`), ``session`` (:class:`SessionView`),
    ``removed`` (:class:`SessionRemoved`) or ``host`` (:class:`HostView`).
    """

    event: str
    data: Health | SessionView | SessionRemoved | HostView | dict[str, Any]


_EVENT_MODELS: dict[str, type[BaseModel]] = {
    "ready": Health,
    "session": SessionView,
    "removed": SessionRemoved,
    "host": HostView,
}


@dataclass(frozen=True, slots=True)
class SessionPage:
    """One page of ``GET /sessions`` (docs/api.md, "Pages").

    ``items``: the sessions of the page in the API's order; ``total``: the sessions matching
    the filters in all pages (``X-Total-Count``; the page's length from an aggregator that
    does not send it); ``next_cursor``: ``X-Next-Cursor``, to pass as ``cursor`` for the next
    page (None: this was the last one).
    """

    items: list[SessionView]
    total: int
    next_cursor: str | None


def _params(**values: object) -> dict[str, str]:
    """Drop ``None`` values and render the rest as query strings (datetimes as ISO 8601)."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, datetime):
            out[key] = value.isoformat()
        else:
            out[key] = str(value)
    return out


class ApiClient:
    """A client of one aggregator at ``base_url`` (e.g. ``http://127.0.0.1:8787``).

    ``token`` is sent as ``Authorization: Bearer <token>``; ``timeout`` is in seconds.
    Use it as a context manager or call :meth:`close`. Thread-safe like ``httpx.Client``.
    """

    def __init__(
        self, base_url: str, token: str | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # -- plumbing ----------------------------------------------------------------------------

    def _get(
        self, path: str, params: dict[str, str] | None = None, ok: int = 200
    ) -> httpx.Response:
        url = f"{self.base_url}{path}"
        try:
            response = self._http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise ApiUnavailableError(
                f"cannot reach the aggregator at {url}: {exc or type(exc).__name__}; {HINT}"
            ) from exc
        return self._check(response, url, ok)

    @staticmethod
    def _check(response: httpx.Response, url: str, ok: int = 200) -> httpx.Response:
        if response.status_code == ok:
            return response
        detail = _detail(response)
        if response.status_code == 404:
            raise NotFoundError(detail)
        if response.status_code == 401:
            raise UnauthorizedError(
                f"{url}: {detail}; set SESSIONBEAT_API_TOKEN to the aggregator's api_token"
            )
        raise ApiUnavailableError(f"{url} answered HTTP {response.status_code}: {detail}")

    # -- endpoints ---------------------------------------------------------------------------

    def health(self) -> Health:
        """Return ``GET /healthz`` (liveness): ``status`` ok or degraded, with ``reasons``."""
        url = f"{self.base_url}/healthz"
        try:
            response = self._http.get("/healthz")
        except httpx.HTTPError as exc:
            raise ApiUnavailableError(
                f"cannot reach the aggregator at {url}: {exc}; {HINT}"
            ) from exc
        if response.status_code == 503:
            return Health.model_validate_json(response.content)
        return Health.model_validate_json(self._check(response, url).content)

    def sessions_json(
        self,
        *,
        host: str | None = None,
        repo: str | None = None,
        status: SessionStatus | str | None = None,
        all: bool = False,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Return ``GET /sessions`` as the raw JSON array (what ``--json`` prints).

        Every page (``limit`` None) or the first ``limit`` sessions: pages of up to 1,000 are
        followed through ``X-Next-Cursor`` (an aggregator from before paging answers all at
        once, without the header).
        """
        params = _params(host=host, repo=repo, status=status, all=all or None)
        data: list[dict[str, Any]] = []
        for page in self._session_pages(params, limit):
            data += page.json()
        return data if limit is None else data[:limit]

    def _session_pages(
        self, params: dict[str, str], limit: int | None = None
    ) -> Iterator[httpx.Response]:
        """Yield the pages of ``GET /sessions`` (up to 1,000 each), following ``X-Next-Cursor``.

        Every page, or (``limit``) pages until that many sessions were asked for.
        """
        left = limit
        while True:
            size = PAGE_MAX if left is None else max(1, min(PAGE_MAX, left))
            response = self._get("/sessions", {**params, "limit": str(size)})
            yield response
            cursor = response.headers.get("x-next-cursor")
            if left is not None:
                left -= size
            if cursor is None or (left is not None and left <= 0):
                return
            params = {**params, "cursor": cursor}

    def list_sessions(
        self,
        *,
        host: str | None = None,
        repo: str | None = None,
        status: SessionStatus | str | None = None,
        all: bool = False,
        limit: int | None = None,
    ) -> list[SessionView]:
        """Return live sessions (``GET /sessions``): needs-approval first, then newest.

        ``all`` adds stale and ended sessions; the filters are exact matches, applied by the
        server. ``limit`` (None: every page) returns at most that many, the first in the API's
        order, asking for no more pages than needed.
        """
        params = _params(host=host, repo=repo, status=status, all=all or None)
        out: list[SessionView] = []
        for page in self._session_pages(params, limit):
            out += _SESSION_LIST.validate_json(page.content)
        return out if limit is None else out[:limit]

    def sessions_page(
        self,
        *,
        host: str | None = None,
        repo: str | None = None,
        status: SessionStatus | str | None = None,
        all: bool = False,
        limit: int = 100,
        cursor: str | None = None,
    ) -> SessionPage:
        """Return one page of ``GET /sessions``: up to ``limit`` (1-1000) sessions after ``cursor``.

        ``cursor`` is a ``next_cursor`` (or an overview's ``next_cursor``) given back with the
        same filters. Raises ``ApiUnavailableError`` for a cursor the aggregator refuses (400).
        """
        params = _params(
            host=host, repo=repo, status=status, all=all or None, limit=limit, cursor=cursor
        )
        response = self._get("/sessions", params)
        items = _SESSION_LIST.validate_json(response.content)
        total = response.headers.get("x-total-count")
        return SessionPage(
            items=items,
            total=int(total) if total is not None and total.isdigit() else len(items),
            next_cursor=response.headers.get("x-next-cursor"),
        )

    def session(self, session_id: str, host: str | None = None) -> SessionDetail:
        """Return one live session with its timeline; raises ``NotFoundError`` if not live."""
        response = self._get(f"/sessions/{session_id}", _params(host=host))
        return SessionDetail.model_validate_json(response.content)

    def hosts(self) -> list[HostView]:
        """Return every known host (``GET /hosts``)."""
        return _HOST_LIST.validate_json(self._get("/hosts").content)

    def summary(self) -> Summary:
        """Return the totals (``GET /summary``)."""
        return Summary.model_validate_json(self._get("/summary").content)

    def overview(self, limit: int | None = None) -> Overview:
        """Return ``GET /overview``: summary, approvals, the first page, hosts needing a look.

        ``limit`` (1-1000, None: the server's default of 50) sizes the first page of the
        sessions not needing approval; continue with :meth:`sessions_page` (``all=True``,
        ``cursor=overview.next_cursor``).
        """
        return Overview.model_validate_json(self._get("/overview", _params(limit=limit)).content)

    def notify_status(self) -> NotifyStatus:
        """Return the push notifier's state (``GET /notify``): on or off, services, counts.

        Raises ``NotFoundError`` from an aggregator older than ``GET /notify``.
        """
        return NotifyStatus.model_validate_json(self._get("/notify").content)

    def history(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        host: str | None = None,
        repo: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> HistoryPage:
        """Return one page of reaped sessions, newest first (``GET /history``).

        ``since``/``until`` bound ``reaped_at`` as ``[since, until)``; ``limit`` is 1-1000.
        """
        params = _params(limit=limit, offset=offset, host=host, repo=repo, since=since, until=until)
        return HistoryPage.model_validate_json(self._get("/history", params).content)

    def iter_history(
        self,
        *,
        host: str | None = None,
        repo: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = 200,
    ) -> Iterator[HistoryEntry]:
        """Yield every matching history entry, newest first, fetching page by page."""
        offset: int | None = 0
        while offset is not None:
            page = self.history(
                limit=page_size, offset=offset, host=host, repo=repo, since=since, until=until
            )
            yield from page.items
            offset = page.next_offset

    def history_entry(self, session_id: str, host: str | None = None) -> HistoryEntry:
        """Return the newest history entry of a reaped session; raises ``NotFoundError``."""
        response = self._get(f"/history/{session_id}", _params(host=host))
        return HistoryEntry.model_validate_json(response.content)

    def export_session(
        self, session_id: str, format: ExportFormat = ExportFormat.JSON, host: str | None = None
    ) -> str:
        """Return one session (live, else from the history) as JSON or a Markdown report."""
        return self._get(f"/sessions/{session_id}/export", _params(format=format, host=host)).text

    def export_history(
        self,
        format: ExportFormat = ExportFormat.JSON,
        *,
        host: str | None = None,
        repo: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> str:
        """Return matching history entries as a JSON array or a Markdown report."""
        params = _params(format=format, host=host, repo=repo, since=since, until=until, limit=limit)
        return self._get("/history/export", params).text

    def metrics(self) -> str:
        """Return the Prometheus text exposition (``GET /metrics``)."""
        return self._get("/metrics").text

    def events(self, read_timeout: float | None = None) -> Iterator[ApiEvent]:
        """Yield the live ``GET /events`` stream as parsed events until the server closes it.

        The first event is ``ready``. ``read_timeout`` (seconds, None: wait forever) bounds
        the wait for the next bytes; the server sends a keep-alive comment every 15 s.
        Raises ``ApiUnavailableError`` when the stream cannot be opened or breaks.
        """
        from httpx_sse import SSEError, connect_sse

        url = f"{self.base_url}/events"
        timeout = httpx.Timeout(self._http.timeout.connect, read=read_timeout)
        try:
            with connect_sse(self._http, "GET", "/events", timeout=timeout) as source:
                self._check(source.response, url)
                for sse in source.iter_sse():
                    model = _EVENT_MODELS.get(sse.event)
                    data: Any = model.model_validate_json(sse.data) if model else sse.json()
                    yield ApiEvent(event=sse.event, data=data)
        except (httpx.HTTPError, SSEError) as exc:
            raise ApiUnavailableError(f"event stream {url} failed: {exc}; {HINT}") from exc


def _detail(response: httpx.Response) -> str:
    """Return the ``detail`` of a FastAPI error body, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(body)[:200]
