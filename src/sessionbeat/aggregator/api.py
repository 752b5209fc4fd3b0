"""The aggregator's HTTP API (FastAPI). Every response model is in ``sessionbeat.models``.

Endpoints (JSON unless said otherwise):

* ``GET /healthz`` -> :class:`~sessionbeat.models.Health`, liveness: always 200 while the
  process serves; ``status`` ``ok`` or ``degraded`` with ``reasons``.
* ``GET /readyz`` -> the same, readiness: HTTP 503 unless the broker is connected and the
  history writable (compose's healthcheck). Neither needs the token.
* ``GET /sessions?host=&repo=&status=&all=&limit=&cursor=`` -> ``list[SessionView]``,
  needs-approval first, then newest first, one page of ``limit`` (1-1000, default 100). Stale
  and ended sessions are left out unless ``all=true`` (or asked for with ``status=``). When
  there is more, ``Link: <...cursor=...>; rel="next"`` (RFC 8288) and ``X-Next-Cursor``;
  always ``X-Total-Count`` (sessions matching in all pages). A bad cursor is a 400.
* ``GET /sessions/{id}?host=`` -> :class:`~sessionbeat.models.SessionDetail` of a **live**
  session (with its status timeline); 404 otherwise. A reaped session is not returned here, so
  the response has one shape: ask ``GET /history/{id}`` for it (the 404's ``detail`` says so
  when the history has it).
* ``GET /sessions/{id}/export?format=json|md&host=`` -> the session as a JSON document or a
  Markdown report, live or else from the history (a download: ``Content-Disposition``).
* ``GET /hosts`` -> ``list[HostView]``; ``GET /summary`` -> :class:`~sessionbeat.models.Summary`.
* ``GET /overview?limit=`` -> :class:`~sessionbeat.models.Overview`: summary, every session
  needing approval, the first ``limit`` (default 50) others, the hosts that need a look and
  host counts, at one instant; the dashboard's one call per refresh. Served from a cache of the
  serialised bytes per state version (at most 1 s old; 0.5 s while the state keeps changing).
* ``GET /notify`` -> :class:`~sessionbeat.models.NotifyStatus`: the push notifier on or off,
  its services (URLs redacted), the last delivery or error, counts (``enabled`` False when the
  aggregator runs without one).
* ``GET /history?limit=&offset=&host=&repo=&since=&until=`` -> :class:`HistoryPage`, newest
  first; ``since``/``until`` are ISO 8601 times bounding ``reaped_at`` (``[since, until)``).
* ``GET /history/export?format=json|md&host=&repo=&since=&until=&limit=`` -> every matching
  entry (up to ``limit``) as a JSON array or a Markdown report.
* ``GET /history/{id}?host=`` -> the newest :class:`HistoryEntry` of a reaped session, or 404.
* ``GET /events`` -> Server-Sent Events (FastAPI's built-in ``EventSourceResponse``): first a
  ``ready`` event, then ``session`` (data: ``SessionView``), ``removed`` (``SessionRemoved``) and
  ``host`` (``HostView``) events as the state changes. Changes to one session between two
  deliveries are merged into one event with the latest state.
* ``GET /metrics`` -> the Prometheus exposition of the service's registry: OpenMetrics to a
  scraper whose ``Accept`` asks for it, the classic text format otherwise; gzipped when
  ``Accept-Encoding`` allows (:mod:`~sessionbeat.exporter.exposition`).

When ``settings.api_token`` is set, every endpoint but ``/healthz`` and ``/readyz`` requires
``Authorization: Bearer <token>`` (401 otherwise), ``/docs`` and ``/openapi.json`` too; a
request whose ``Host`` header is not trusted gets 400 (:mod:`~sessionbeat.aggregator.guards`).
Every status a route can answer is in its ``responses=``. Named errors become statuses here:
``NotFoundError`` 404, ``HistoryUnavailableError`` 503, ``TopicError`` 400.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS
from pydantic import BeforeValidator

from sessionbeat import __version__
from sessionbeat.aggregator import exports, guards
from sessionbeat.aggregator.history import EXPORT_LIMIT
from sessionbeat.aggregator.history_queries import MAX_OFFSET
from sessionbeat.aggregator.overview import OVERVIEW_LIMIT
from sessionbeat.aggregator.reads import DEFAULT_PAGE
from sessionbeat.aggregator.service import AggregatorService
from sessionbeat.aggregator.views import SessionFilter
from sessionbeat.errors import (
    CursorError,
    HistoryUnavailableError,
    NotFoundError,
    SessionbeatError,
    TopicError,
)
from sessionbeat.exporter import exposition
from sessionbeat.models import (
    ErrorDetail,
    ExportFormat,
    Health,
    HistoryEntry,
    HistoryPage,
    HostView,
    NotifyStatus,
    Overview,
    SessionDetail,
    SessionStatus,
    SessionView,
    Summary,
    UtcDatetime,
)
from sessionbeat.settings import Settings

EVENTS_WAKEUP = 1.0
"""Seconds an ``/events`` stream waits for changes before checking for shutdown."""

ERROR_STATUS: dict[type[SessionbeatError], int] = {
    NotFoundError: 404,
    HistoryUnavailableError: 503,
    TopicError: 400,
    CursorError: 400,
}
"""HTTP status of each named error; any other ``SessionbeatError`` is a 500."""


DOWNLOAD_RESPONSES: guards.ResponsesDoc = {
    200: {
        "description": "a download: the JSON document or the Markdown report",
        "content": {
            ExportFormat.JSON.media_type: {},
            ExportFormat.MD.media_type.split(";")[0]: {"schema": {"type": "string"}},
        },
    }
}
"""The 200 of the export routes: ``format=json`` or ``format=md``."""


JSON = "application/json"
"""The media type of the routes that serialise their body themselves (pydantic-core)."""


class JsonBytes(JSONResponse):
    """A response whose body is JSON bytes already serialised (no re-validation by FastAPI).

    A ``JSONResponse`` so that the OpenAPI document shows the route's ``response_model``
    schema; ``content`` given as bytes is sent as is (anything else is encoded as usual).
    """

    def render(self, content: Any) -> bytes:
        """Return ``content`` when it is bytes already, else its JSON encoding."""
        return content if isinstance(content, bytes) else super().render(content)


PAGE_HEADERS: dict[str, Any] = {
    "X-Total-Count": {
        "description": "sessions matching the filters, in all pages",
        "schema": {"type": "integer"},
    },
    "X-Next-Cursor": {
        "description": "pass as cursor= to get the next page (absent on the last page)",
        "schema": {"type": "string"},
    },
    "Link": {
        "description": 'the next page as <url>; rel="next" (RFC 8288; absent on the last page)',
        "schema": {"type": "string"},
    },
}
"""The headers of a ``GET /sessions`` page, for the OpenAPI document."""

BAD_CURSOR_RESPONSES: guards.ResponsesDoc = {
    400: {
        "model": ErrorDetail,
        "description": "a cursor this aggregator did not issue (or an untrusted Host header)",
    }
}
"""The 400 of ``GET /sessions``: ``{"detail": ...}`` saying the cursor is not one of ours."""


def http_status_for(exc: SessionbeatError) -> int:
    """Return the HTTP status of a named error (:data:`ERROR_STATUS`, else 500)."""
    return next((s for cls, s in ERROR_STATUS.items() if isinstance(exc, cls)), 500)


HostQuery = Annotated[str | None, Query(description="only this host id")]
RepoQuery = Annotated[str | None, Query(description="only this repo (git top-level name)")]


def _not_a_number(value: object) -> object:
    """Refuse a bare number for a time (pydantic would read it as Unix seconds): ISO 8601 only."""
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        raise ValueError("an ISO 8601 time is expected, e.g. 2025-06-01T12:00:00Z")
    return value


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
QueryTime = Annotated[UtcDatetime, BeforeValidator(_not_a_number)]
"""A time in a query: ISO 8601 only, no offset meaning UTC, within years 1-9999 in UTC."""

SinceQuery = Annotated[
    QueryTime | None,
    Query(description="reaped at or after (ISO 8601; no offset means UTC)"),
]
UntilQuery = Annotated[
    QueryTime | None, Query(description="reaped before (ISO 8601; no offset means UTC)")
]
FormatQuery = Annotated[ExportFormat, Query(description="json or md (Markdown)")]


def _download(body: str, fmt: ExportFormat, stem: str) -> Response:
    return Response(
        content=body,
        media_type=fmt.media_type,
        headers={"Content-Disposition": f'attachment; filename="{exports.filename(stem, fmt)}"'},
    )


def create_app(
    service: AggregatorService,
    settings: Settings,
    registry: CollectorRegistry,
    *,
    manage_service: bool = False,
    trusted_hosts: Sequence[str] | None = None,
    notify_status: Callable[[], NotifyStatus] | None = None,
) -> FastAPI:
    """Build the FastAPI app serving ``service``'s state, and ``registry`` on ``/metrics``.

    With ``manage_service`` the app's lifespan starts the service and stops it on shutdown
    (what ``sessionbeat aggregator`` does); otherwise the caller starts and stops it.
    ``trusted_hosts`` are the ``Host`` names answered (default: ``settings.trusted_hosts`` of
    ``settings.http_host``); see :mod:`~sessionbeat.aggregator.guards`. ``notify_status`` is
    the notifier's ``status`` served on ``GET /notify`` (None: notifications off, answered as
    ``NotifyStatus(enabled=False)``).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_service:
            service.start()
        try:
            yield
        finally:
            if manage_service:
                await run_in_threadpool(service.stop)

    open_docs = settings.api_token is None
    app = FastAPI(
        title="sessionbeat aggregator",
        version=__version__,
        description="Live Claude Code sessions across hosts (see docs/architecture.md).",
        lifespan=lifespan,
        responses=guards.HOST_RESPONSES,
        # With a token, guards.install serves these three behind it instead.
        docs_url="/docs" if open_docs else None,
        redoc_url="/redoc" if open_docs else None,
        openapi_url="/openapi.json" if open_docs else None,
    )

    @app.middleware("http")
    async def count_requests(request: Request, call_next: Callable[..., Any]) -> Any:
        """Count each request by its route template (bounded labels), e.g. ``/sessions/{id}``."""
        response = await call_next(request)
        route = request.scope.get("route")
        service.count_request(getattr(route, "path", "other"))
        return response

    @app.exception_handler(SessionbeatError)
    async def named_error(request: Request, exc: SessionbeatError) -> JSONResponse:
        return JSONResponse(status_code=http_status_for(exc), content={"detail": str(exc)})

    @app.get("/healthz", response_model=Health)
    def healthz() -> Health:
        """Liveness: 200 while the process serves; ``status`` ok or degraded, ``reasons`` why."""
        return service.health()

    @app.get(
        "/readyz",
        response_model=Health,
        responses={503: {"model": Health, "description": "not ready: see the reasons"}},
    )
    def readyz() -> JSONResponse:
        """Readiness: 200 while the broker is connected and the history writable, else 503."""
        health = service.health()
        return JSONResponse(
            status_code=200 if health.ready else 503, content=health.model_dump(mode="json")
        )

    router = guards.guarded_router(settings)
    guards.install(
        app,
        router,
        settings,
        settings.trusted_hosts(settings.http_host) if trusted_hosts is None else trusted_hosts,
    )
    _add_session_routes(router, service)
    _add_history_routes(router, service)

    @router.get("/hosts", response_model=list[HostView])
    def hosts() -> list[HostView]:
        """Every known host with its state and live session counts."""
        return service.hosts()

    @router.get("/overview", response_model=Overview, response_class=JsonBytes)
    def overview(
        limit: Annotated[
            int, Query(ge=1, le=1000, description="sessions besides those needing approval")
        ] = OVERVIEW_LIMIT,
    ) -> Response:
        """Summary, sessions needing approval, the first page of the others, hosts to look at."""
        return JsonBytes(content=service.overview_json(limit))

    @router.get("/summary", response_model=Summary)
    def summary() -> Summary:
        """Totals for the phone's first line."""
        return service.summary()

    @router.get("/notify", response_model=NotifyStatus)
    def notify() -> NotifyStatus:
        """Push notifications: on or off, services (URLs redacted), last delivery, counts."""
        return NotifyStatus(enabled=False) if notify_status is None else notify_status()

    @router.get(
        "/metrics",
        response_class=Response,
        responses={
            200: {
                "content": {CONTENT_TYPE_LATEST: {}, OPENMETRICS: {}},
                "description": "exposition: OpenMetrics if Accept asks for it, else classic text",
            }
        },
    )
    def metrics(request: Request) -> Response:
        """Serve the registry: OpenMetrics when Accept asks for it, gzipped if accepted."""
        scrape = exposition.render(
            registry, request.headers.get("accept"), request.headers.get("accept-encoding")
        )
        return Response(scrape.body, headers=scrape.headers)

    @router.get("/events", response_class=EventSourceResponse)
    async def events() -> AsyncIterator[ServerSentEvent]:
        """Server-Sent Events: ``ready``, then ``session``, ``removed`` and ``host`` changes."""
        sub = service.feed.subscribe(asyncio.get_running_loop())
        try:
            yield ServerSentEvent(event="ready", data=service.health())
            while not sub.closed:
                batch = await sub.next_batch(EVENTS_WAKEUP)
                if batch:
                    for name, model in await run_in_threadpool(service.render_changes, batch):
                        yield ServerSentEvent(event=name, data=model)
        finally:
            service.feed.unsubscribe(sub)

    app.include_router(router)
    return app


def _add_session_routes(router: APIRouter, service: AggregatorService) -> None:
    @router.get(
        "/sessions",
        response_model=list[SessionView],
        response_class=JsonBytes,
        responses={200: {"headers": PAGE_HEADERS}, **BAD_CURSOR_RESPONSES},
    )
    def list_sessions(
        request: Request,
        host: HostQuery = None,
        repo: RepoQuery = None,
        status: Annotated[SessionStatus | None, Query(description="only this status")] = None,
        all: Annotated[bool, Query(description="also stale and ended sessions")] = False,
        limit: Annotated[int, Query(ge=1, le=1000, description="sessions per page")] = DEFAULT_PAGE,
        cursor: Annotated[
            str | None, Query(description="continue after a page: its X-Next-Cursor")
        ] = None,
    ) -> Response:
        """Live sessions, needs-approval first, then newest first, one page at a time."""
        flt = SessionFilter(host=host, repo=repo, status=status, all=all)
        try:
            body, nxt, total = service.sessions_json(flt, cursor, limit)
        except CursorError as exc:
            return JSONResponse(status_code=400, content={"detail": str(exc)})
        headers = {"X-Total-Count": str(total)}
        if nxt is not None:
            headers["X-Next-Cursor"] = nxt
            headers["Link"] = f'<{request.url.include_query_params(cursor=nxt)}>; rel="next"'
        return JsonBytes(content=body, headers=headers)

    @router.get(
        "/sessions/{session_id}",
        response_model=SessionDetail,
        responses=guards.NOT_FOUND_RESPONSES,
    )
    def session(session_id: str, host: HostQuery = None) -> SessionDetail:
        """One live session with its status timeline."""
        try:
            return service.session(session_id, host)
        except NotFoundError as exc:
            reaped = _find_reaped(service, session_id, host)
            if reaped is not None:
                raise NotFoundError(
                    f"{exc}; it was reaped at {reaped.reaped_at.isoformat()} "
                    f"({reaped.reap_reason}): see /history/{session_id}"
                ) from None
            raise

    @router.get(
        "/sessions/{session_id}/export",
        response_class=Response,
        responses={**DOWNLOAD_RESPONSES, **guards.NOT_FOUND_RESPONSES},
    )
    def export_session(
        session_id: str, format: FormatQuery = ExportFormat.JSON, host: HostQuery = None
    ) -> Response:
        """One session, live or reaped, as a JSON document or a Markdown report."""
        item: SessionDetail | HistoryEntry
        try:
            item = service.session(session_id, host)
        except NotFoundError:
            reaped = _find_reaped(service, session_id, host)
            if reaped is None:
                raise NotFoundError(f"no session {session_id!r} live or in the history") from None
            item = reaped
        if format is ExportFormat.MD:
            body = exports.sessions_markdown([item], f"Claude Code session {session_id}")
        else:
            body = exports.to_json(item)
        return _download(body, format, f"session-{session_id}")


def _find_reaped(
    service: AggregatorService, session_id: str, host: str | None
) -> HistoryEntry | None:
    try:
        return service.history.find(session_id, host)
    except HistoryUnavailableError:
        return None


def _add_history_routes(router: APIRouter, service: AggregatorService) -> None:
    @router.get("/history", response_model=HistoryPage, responses=guards.UNAVAILABLE_RESPONSES)
    def history(
        limit: Annotated[int, Query(ge=1, le=1000, description="entries per page")] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="entries to skip")] = 0,
        host: HostQuery = None,
        repo: RepoQuery = None,
        since: SinceQuery = None,
        until: UntilQuery = None,
    ) -> HistoryPage:
        """Reaped sessions, newest first, one page at a time."""
        return service.history.page(
            limit=limit, offset=offset, host=host, repo=repo, since=since, until=until
        )

    @router.get(
        "/history/export",
        response_class=Response,
        responses={**DOWNLOAD_RESPONSES, **guards.UNAVAILABLE_RESPONSES},
    )
    def export_history(
        format: FormatQuery = ExportFormat.JSON,
        host: HostQuery = None,
        repo: RepoQuery = None,
        since: SinceQuery = None,
        until: UntilQuery = None,
        limit: Annotated[int, Query(ge=1, le=EXPORT_LIMIT)] = EXPORT_LIMIT,
    ) -> Response:
        """Reaped sessions, newest first, as a JSON array or a Markdown report."""
        items = service.history.entries(host=host, repo=repo, since=since, until=until, limit=limit)
        if format is ExportFormat.MD:
            body = exports.sessions_markdown(list(items), "Claude Code session history")
        else:
            body = exports.to_json(list(items))
        return _download(body, format, "sessionbeat-history")

    @router.get(
        "/history/{session_id}",
        response_model=HistoryEntry,
        responses={**guards.NOT_FOUND_RESPONSES, **guards.UNAVAILABLE_RESPONSES},
    )
    def history_entry(session_id: str, host: HostQuery = None) -> HistoryEntry:
        """Return the newest history entry of a reaped session."""
        entry = service.history.find(session_id, host)
        if entry is None:
            raise NotFoundError(f"session {session_id!r} is not in the history")
        return entry
