"""``sessionbeat sessions``: read sessions from the aggregator's API (list, show, history, export).

Also ``sessionbeat notify status`` (the push notifier's state, ``GET /notify``), ``tail`` and
``doctor``.

Every command talks to ``settings.api_url`` (``--api-url`` / ``SESSIONBEAT_API_URL``) with the
bearer token ``SESSIONBEAT_API_TOKEN`` if set. ``--json`` prints what the API returns, so
scripts can use the CLI and the API interchangeably. An unreachable API is a one-line error and
exit code 4; an unknown session exits 3 (``cli_support.EXIT_CODES``).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sessionbeat.cli_support import get_settings
from sessionbeat.errors import ApiUnavailableError, ConfigError, NotFoundError
from sessionbeat.models import ExportFormat, SessionStatus, utc_now
from sessionbeat.readers import tables
from sessionbeat.readers.render import (
    json_safe,
    parse_since,
)

if TYPE_CHECKING:
    from rich.console import Console

    from sessionbeat.models import HistoryEntry, SessionDetail, SessionView
    from sessionbeat.readers.client import ApiClient

app = typer.Typer(help="Read sessions from the aggregator.", no_args_is_help=True)

HISTORY_ROWS = 20
"""History rows ``sessions list --all`` shows (``sessions history`` pages through all)."""

HostOpt = Annotated[str | None, typer.Option("--host", help="only this host id")]
RepoOpt = Annotated[str | None, typer.Option("--repo", help="only this repo")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the API's JSON")]
STATUS_HELP = "only this status: " + ", ".join(s.value for s in SessionStatus)
"""Help of ``sessions list --status``: the choices as words, which wrap between them."""
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="reaped since: 30m, 12h, 7d or an ISO 8601 time")
]


def _client(ctx: typer.Context) -> ApiClient:
    from sessionbeat.readers.client import ApiClient

    settings = get_settings(ctx)
    token = settings.api_token.get_secret_value() if settings.api_token else None
    return ApiClient(settings.api_url, token=token)


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_since(text, utc_now())
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _print_json(data: Any) -> None:
    """Print JSON with control and bidi characters escaped (``render.json_safe``)."""
    typer.echo(json_safe(json.dumps(data, indent=2, ensure_ascii=False)))


@app.command("list")
def list_(
    ctx: typer.Context,
    host: HostOpt = None,
    repo: RepoOpt = None,
    status: Annotated[
        SessionStatus | None, typer.Option("--status", metavar="STATUS", help=STATUS_HELP)
    ] = None,
    all_: Annotated[
        bool,
        typer.Option("--all", "-a", help="also stale and ended sessions, and the history"),
    ] = False,
    limit: Annotated[
        int | None,
        typer.Option("--limit", "-n", min=1, help="at most this many sessions; without it, all"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List live sessions: needs-approval first, then the most recent.

    The filters apply on the server; every page is read unless --limit says how many. With
    --json it prints exactly the array that GET /sessions returns for the same filters.
    """
    from sessionbeat.readers.client import PAGE_MAX

    with _client(ctx) as api:
        if as_json:
            _print_json(
                api.sessions_json(host=host, repo=repo, status=status, all=all_, limit=limit)
            )
            return
        filters: dict[str, Any] = {"host": host, "repo": repo, "status": status, "all": all_}
        if limit is None:
            views = api.list_sessions(**filters)
            total = len(views)
        else:  # the first page says how many match (X-Total-Count)
            page = api.sessions_page(**filters, limit=min(limit, PAGE_MAX))
            views, total = page.items, page.total
            if limit > PAGE_MAX and page.next_cursor is not None:
                views = api.list_sessions(**filters, limit=limit)
        everyone = _everyone(api, views, repo, whole=limit is None and not (host or status))
        history, history_error = None, None
        if all_:
            try:
                history = api.history(limit=HISTORY_ROWS, host=host, repo=repo)
            except ApiUnavailableError as exc:  # e.g. 503: the history's disk is full
                history_error = str(exc)
    console = _console()
    if views:
        console.print(tables.sessions_table(views, everyone))
        if total > len(views):
            console.print(f"{len(views):,} of {total:,} shown (--limit).")
    else:
        hint = "" if all_ else " (--all also shows stale, ended and reaped sessions)"
        console.print(f"No live sessions{hint}.")
    if history_error is not None:
        console.print(f"\nHistory unavailable: {history_error}", markup=False)
    if history is not None:
        console.print()
        console.print(f"[bold]History[/bold] ({history.total} reaped)")
        if history.items:
            console.print(tables.history_table(history))
        if history.total > len(history.items):
            console.print(
                f"{len(history.items)} newest shown; `sessionbeat sessions history` for more."
            )


def _everyone(
    api: ApiClient, views: list[SessionView], repo: str | None, whole: bool
) -> list[SessionView]:
    """Return the live sessions "(2 on main)" is counted among, on every host.

    ``views`` itself when it is the whole list (``whole``: no host or status filter, no
    limit); else the live sessions of each repo shown (``GET /sessions?repo=``, the server
    filtering), so a host filter or a limit does not hide a branch-mate on another host.
    """
    if whole:
        return views
    repos = [repo] if repo is not None else sorted({v.repo for v in views if v.repo and v.branch})
    everyone: list[SessionView] = []
    for name in repos:
        everyone += api.list_sessions(repo=name)
    return everyone


@app.command("history")
def history(
    ctx: typer.Context,
    host: HostOpt = None,
    repo: RepoOpt = None,
    since: SinceOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="entries per page")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="entries to skip")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """List reaped sessions from the aggregator's history, newest first."""
    with _client(ctx) as api:
        page = api.history(limit=limit, offset=offset, host=host, repo=repo, since=_since(since))
    if as_json:
        typer.echo(json_safe(page.model_dump_json(indent=2)))
        return
    console = _console()
    if not page.items:
        console.print("No reaped sessions match.")
        return
    console.print(tables.history_table(page))
    end = page.offset + len(page.items)
    more = f"; next: --offset {page.next_offset}" if page.next_offset is not None else ""
    console.print(f"{page.offset + 1}-{end} of {page.total}{more}")


def _resolve(api: ApiClient, session_id: str, host: str | None) -> tuple[str, str | None]:
    """Expand a unique id prefix (as the tables show) to a full ``(session_id, host)``."""
    candidates = {
        (v.session_id, v.host)
        for v in api.list_sessions(host=host, all=True)
        if v.session_id.startswith(session_id)
    }
    if not candidates:
        candidates = {
            (e.session_id, e.host)
            for e in api.history(limit=200, host=host).items
            if e.session_id.startswith(session_id)
        }
    if len(candidates) == 1:
        return next(iter(candidates))
    if not candidates:
        raise NotFoundError(f"no session {session_id!r} live or in the recent history")
    listing = ", ".join(f"{sid} on {h}" for sid, h in sorted(candidates))
    raise NotFoundError(f"{session_id!r} is ambiguous: {listing}; give more of the id or --host")


@app.command("show")
def show(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="session id (or a unique prefix of it)")],
    host: HostOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one session with its status timeline (live, else from the history)."""
    item: SessionDetail | HistoryEntry
    with _client(ctx) as api:
        try:
            item = api.session(session_id, host)
        except NotFoundError:
            full, found_host = _resolve(api, session_id, host)
            try:
                item = api.session(full, found_host)
            except NotFoundError:
                item = api.history_entry(full, found_host)
    if as_json:
        typer.echo(json_safe(item.model_dump_json(indent=2)))
        return
    console = _console()
    from sessionbeat.models import HistoryEntry

    if isinstance(item, HistoryEntry):
        console.print("[bold]Reaped session[/bold] (from the history)")
    console.print(tables.facts_table(item))
    console.print()
    console.print(tables.timeline_table(item))


@app.command("export")
def export(
    ctx: typer.Context,
    session_id: Annotated[
        str | None, typer.Argument(help="one session (live or reaped); omit for the history")
    ] = None,
    fmt: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="json, or md (a Markdown report)")
    ] = ExportFormat.JSON,
    host: HostOpt = None,
    repo: RepoOpt = None,
    since: SinceOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write to this file, not stdout")
    ] = None,
) -> None:
    """Export one session, or the reaped history, as JSON or a Markdown report."""
    with _client(ctx) as api:
        if session_id is not None:
            try:
                body = api.export_session(session_id, fmt, host)
            except NotFoundError:
                full, found_host = _resolve(api, session_id, host)
                body = api.export_session(full, fmt, found_host)
        else:
            body = api.export_history(fmt, host=host, repo=repo, since=_since(since))
    if output is None:
        typer.echo(body, nl=False)
        return
    try:
        output.write_text(body, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror or exc}") from exc
    typer.echo(f"wrote {output} ({len(body.encode())} bytes)", err=True)


def notify_status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show whether push notifications are on, their services and what they sent.

    Reads GET /notify and sends nothing. With --json it prints the API's answer.
    """
    with _client(ctx) as api:
        try:
            status = api.notify_status()
        except NotFoundError:  # an aggregator from before GET /notify
            raise ApiUnavailableError(
                f"{api.base_url} has no GET /notify: upgrade the aggregator"
            ) from None
    if as_json:
        typer.echo(json_safe(status.model_dump_json(indent=2)))
        return
    console = _console()
    console.print(tables.notify_facts_table(status))
    if status.targets:
        console.print()
        console.print(tables.notify_targets_table(status))
    if status.counts:
        console.print()
        console.print(tables.notify_counts_table(status))


def tail(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="only this host id")] = None,
    retained: Annotated[
        bool, typer.Option("--retained/--no-retained", help="print the retained snapshot first")
    ] = True,
    count: Annotated[
        int | None, typer.Option("--count", "-C", min=1, help="exit after this many messages")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", "-W", min=0.1, help="exit after this many seconds"),
    ] = None,
) -> None:
    """Print sessionbeat messages live, one line each, until Ctrl-C."""
    from sessionbeat.readers.tail import run_tail

    run_tail(get_settings(ctx), host=host, retained=retained, count=count, timeout=timeout)


def doctor(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print the results as JSON")] = False,
) -> None:
    """Check the broker, credentials, hooks, agent, API and clock of this host."""
    from sessionbeat.readers.doctor import print_checks, run_checks

    raise typer.Exit(print_checks(run_checks(get_settings(ctx)), as_json))
