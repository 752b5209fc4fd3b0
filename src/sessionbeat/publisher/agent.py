"""The host agent: one long-lived process per host between Claude Code's hooks and the broker.

:class:`HostAgent` puts the parts together and runs their lifecycle (a lock per state dir, start,
clean stop). Threads: the IPC server (``publisher/ipc.py``) queues hook events; paho's network
thread runs the MQTT callbacks (``publisher/link.py``: Last Will and birth with ``bdseq``,
publishes, the spool replay) and watchdog's thread the registry watch
(``publisher/registry_watch.py``), which only queue signals; one worker thread
(``publisher/worker.py``) owns :class:`AgentCore`, the spool and every publish, so ordering is
simple. Hook frames hold their bytes of the IPC server's budget until handled, and the inbox is
read one event at a time. With ``announce`` on, a thread reads the aggregator's
``GET /sessions`` (``publisher/peers.py``) and the IPC server answers ``publish --announce``
from that and the worker's beats (``publisher/announce.py``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from sessionbeat import __version__
from sessionbeat.errors import AgentAlreadyRunningError
from sessionbeat.models import utc_now
from sessionbeat.publisher.bdseq import BdseqCounter
from sessionbeat.publisher.core import AgentCore, CoreConfig, HostReaders
from sessionbeat.publisher.ipc import HostEvent, IpcServer
from sessionbeat.publisher.link import BrokerLink
from sessionbeat.publisher.registry_watch import RegistryWatcher
from sessionbeat.publisher.spool import SessionStore, Spool
from sessionbeat.publisher.status_file import StatusFile
from sessionbeat.publisher.worker import Worker, WorkQueue
from sessionbeat.settings import Settings

if TYPE_CHECKING:
    from sessionbeat.publisher.peers import PeerBoard, PeerFetcher

log = logging.getLogger(__name__)


class HostAgent:
    """The agent: call :meth:`run` (blocks until :meth:`stop`) or :meth:`start` for a thread.

    Takes the settings, the host readers (``publisher.readers.ClaudeReaders`` by default) and a
    clock returning aware UTC datetimes. Raises :class:`AgentAlreadyRunningError` from
    :meth:`start`/:meth:`run` when another agent already serves ``settings.state_dir``.
    """

    def __init__(
        self,
        settings: Settings,
        readers: HostReaders | None = None,
        clock: Callable[[], datetime] = utc_now,
        transport: str | None = None,
    ) -> None:
        if readers is None:
            from sessionbeat.publisher.readers import ClaudeReaders

            readers = ClaudeReaders(settings)
        self.settings = settings
        self.clock = clock
        state_dir = settings.state_dir
        self.state_dir = state_dir
        self.core = AgentCore(
            settings.host,
            readers,
            CoreConfig(
                heartbeat_interval=settings.heartbeat_interval,
                ended_linger=settings.ended_linger,
                reap_after=settings.reap_after,
                include_detail=settings.include_detail,
                detail_max_chars=settings.detail_max_chars,
            ),
            SessionStore(state_dir / "sessions"),
        )
        self.spool = Spool(state_dir / "spool.jsonl", settings.spool_max_bytes)
        self.bdseq = BdseqCounter(state_dir / "bdseq")
        self.lock = FileLock(str(state_dir / "agent.lock"))
        self.work = WorkQueue()
        self.peers: PeerBoard | None = None
        self.fetcher: PeerFetcher | None = None
        on_announce = None
        if settings.announce:
            on_announce = self._announcer(settings, readers)
        self.ipc = IpcServer(
            state_dir,
            self.work.put,
            self.work.refused,
            transport or os.environ.get("SESSIONBEAT_AGENT_TRANSPORT"),
            on_announce=on_announce,
        )
        self._stopped = threading.Event()
        self.link = BrokerLink(
            settings,
            clock,
            self.spool,
            self.bdseq,
            on_connected=self.work.connected,
            stopped=self._stopped,
        )
        self.watcher = (
            RegistryWatcher(settings.claude_config_dir, self.work.registry_changed)
            if settings.registry_watch
            else None
        )
        self.worker = Worker(
            settings,
            clock,
            self.core,
            self.link,
            self.ipc,
            self.watcher,
            self.work,
            StatusFile(state_dir, clock),
            peers=self.peers,
        )
        self.ready = threading.Event()
        self._thread: threading.Thread | None = None

    def _announcer(self, settings: Settings, readers: HostReaders) -> Callable[[HostEvent], bytes]:
        """Build the peer board and its fetcher; return the IPC server's ``on_announce``."""
        from sessionbeat.publisher.announce import Announcer
        from sessionbeat.publisher.peers import PeerBoard, PeerFetcher

        board = PeerBoard(settings.host, settings.idle_after, settings.stale_after)
        token = settings.api_token.get_secret_value() if settings.api_token else None
        self.peers = board
        self.fetcher = PeerFetcher(board, settings.api_url, token, clock=self.clock)
        return Announcer(board, readers.repo_info, self.fetcher.poke, self.clock).answer

    def start(self) -> None:
        """Take the lock, restore sessions, listen for hooks and connect (returns at once)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.lock.acquire(timeout=0)
        except Timeout as exc:
            raise AgentAlreadyRunningError(f"an agent already runs for {self.state_dir}") from exc
        (self.state_dir / "agent.pid").write_text(f"{os.getpid()}\n")
        restored = self.core.restore()
        if restored:
            log.info("restored %d sessions from %s", restored, self.state_dir / "sessions")
        self.ipc.start()
        if self.fetcher is not None:
            self.fetcher.start()
        if self.watcher is not None:
            self.watcher.start()
        self.worker.drain_inbox()
        self.link.connect()
        self._thread = threading.Thread(target=self.worker.run, name="sb-agent", daemon=True)
        self._thread.start()
        self.ready.set()
        log.info(
            "agent %s for host %s started (broker %s)",
            __version__,
            self.settings.host,
            self.settings.broker.display(),
        )

    def stop(self, timeout: float = 5.0) -> None:
        """Stop cleanly: publish ``offline`` (retained) before DISCONNECT, release the lock."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.ipc.stop()
        if self.fetcher is not None:
            self.fetcher.stop()
        if self.watcher is not None:
            self.watcher.stop()
        self.work.stop()
        if self._thread is not None:
            self._thread.join(timeout)
        self.link.close(timeout)
        (self.state_dir / "agent.pid").unlink(missing_ok=True)
        self.lock.release()
        log.info("agent stopped")

    def run(self) -> None:
        """Start, then block until :meth:`stop` is called (e.g. from a signal handler)."""
        self.start()
        self._stopped.wait()
