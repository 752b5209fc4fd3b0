"""The API calls behind each MCP tool: the aggregator's HTTP API in, a result model out.

:class:`Queries` reads the aggregator through ``readers.client.ApiClient`` (blocking httpx; the
server runs each call on a worker thread) and hands the models to the pure ``tools`` functions.
Failures are named errors, which the server turns into MCP tool errors: the aggregator down
``ApiUnavailableError`` (its message names the URL and what to check), a refused token
``UnauthorizedError``, an unknown session ``NotFoundError``, a bad ``since`` ``ConfigError``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sessionbeat.errors import ConfigError, NotFoundError
from sessionbeat.mcp_server import tools
from sessionbeat.mcp_server.caller import Caller, find_caller
from sessionbeat.mcp_server.results import (
    ActiveSessions,
    CallerInfo,
    RecentSessions,
    SessionReport,
    WhoElse,
)
from sessionbeat.models import HistoryEntry, SessionDetail, utc_now
from sessionbeat.readers.client import ApiClient
from sessionbeat.readers.render import parse_since, safe_text


class Queries:
    """Answers the four tools from one aggregator.

    ``api`` is the aggregator's client; ``host`` this machine's host id (``settings.host``);
    ``claude_config_dir`` Claude Code's config dir (``settings.claude_config_dir``);
    ``identify(claude_config_dir)`` returns the calling session each time a tool runs
    (``caller.find_caller``; injectable for tests); ``clock`` returns aware UTC now.
    Thread-safe as ``ApiClient`` is; holds no state between calls.
    """

    def __init__(
        self,
        api: ApiClient,
        host: str,
        claude_config_dir: Path,
        identify: Callable[[Path], Caller] = find_caller,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.api = api
        self.host = host
        self.claude_config_dir = claude_config_dir
        self.identify = identify
        self.clock = clock

    def _caller(self) -> CallerInfo:
        """Return the caller, completed from this host's live sessions when known by ``cwd``.

        Only a caller known by its folder needs the sessions: this host's
        (``GET /sessions?host=``), not the fleet's.
        """
        caller = self.identify(self.claude_config_dir)
        here = [] if caller.session_id is not None else self.api.list_sessions(host=self.host)
        return tools.identify(caller, self.host, here)

    def active_sessions(
        self,
        repo: str | None = None,
        host: str | None = None,
        branch: str | None = None,
        include_self: bool = False,
    ) -> ActiveSessions:
        """Return the live sessions matching the exact filters (``tools.active_sessions``).

        ``repo`` and ``host`` are filtered by the server (``GET /sessions?repo=&host=``).
        """
        caller = self._caller()
        views = self.api.list_sessions(repo=repo, host=host)
        return tools.active_sessions(
            views, caller, repo=repo, host=host, branch=branch, include_self=include_self
        )

    def who_else_is_here(self) -> WhoElse:
        """Return the other live sessions on the caller's repository (``tools.who_else``).

        Reads that repo's sessions (``GET /sessions?repo=``); outside a repository, where
        sessions match by folder, every live session.
        """
        caller = self._caller()
        views = self.api.list_sessions(repo=caller.repo)
        return tools.who_else(views, caller)

    def session(self, session_id: str) -> SessionReport:
        """Return one session, live or else from the history, with its last status changes.

        Raises ``NotFoundError("no live or recent session <id>")`` when neither knows it.
        """
        item: SessionDetail | HistoryEntry
        try:
            item = self.api.session(session_id)
        except NotFoundError:
            try:
                item = self.api.history_entry(session_id)
            except NotFoundError:
                raise NotFoundError(
                    f"no live or recent session {safe_text(session_id)!r}; "
                    "active_sessions and recent_sessions list the ids"
                ) from None
        return tools.session_report(item, self.clock())

    def recent_sessions(self, repo: str | None = None, since: str | None = None) -> RecentSessions:
        """Return the newest ended sessions (``GET /history``), at most ``RECENT_LIMIT``.

        ``since`` is what ``sessions history --since`` takes (``30m``, ``12h``, ``7d``, an ISO
        8601 time); anything else raises ``ConfigError`` naming the accepted forms.
        """
        now = self.clock()
        try:
            start = parse_since(since, now) if since else None
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        page = self.api.history(limit=tools.RECENT_LIMIT, repo=repo, since=start)
        return tools.recent_sessions(page, now, repo=repo, since=since)
