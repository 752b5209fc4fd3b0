"""Named exceptions of sessionbeat: the one tree, every class under :class:`SessionbeatError`.

No other module defines an exception class (tests/test_errors.py). Each is converted at a
boundary: the CLI turns them into exit codes (``cli_support.EXIT_CODES``), the HTTP API into
status codes (``aggregator.api.ERROR_STATUS``), the aggregator's ingest into a
``sessionbeat_messages_rejected_total{reason=...}`` count, the agent's hand-off into an ``ERR``
reply.
Nothing here imports a third-party package, so the hook path may import it.
"""

from __future__ import annotations

from enum import StrEnum


class RejectReason(StrEnum):
    """Why the aggregator rejected an MQTT message (the ``reason`` label of the counter).

    ``too_many_sessions``: a beat of a new session from a host that already has
    ``max_sessions_per_host`` live sessions (docs/architecture.md, "Limits").
    ``bad_notification``: a site's bridge notification (``sessionbeat/sites/<site>/bridge``)
    whose payload is neither ``0`` nor ``1``.
    """

    BAD_TOPIC = "bad_topic"
    TOO_LARGE = "too_large"
    BAD_JSON = "bad_json"
    SCHEMA = "schema"
    HOST_MISMATCH = "host_mismatch"
    SESSION_MISMATCH = "session_mismatch"
    TOO_MANY_SESSIONS = "too_many_sessions"
    BAD_NOTIFICATION = "bad_notification"


class SessionbeatError(Exception):
    """Base class of every error sessionbeat raises on purpose."""


class TopicError(SessionbeatError):
    """A topic string is not one of sessionbeat's (wrong prefix, shape or id characters)."""


class PayloadError(SessionbeatError):
    """An MQTT payload cannot be accepted; ``reason`` says which check failed."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class ConfigError(SessionbeatError):
    """The configuration (environment, TOML file or CLI flags) is invalid."""


class BrokerUnavailableError(SessionbeatError):
    """The MQTT broker could not be reached within the allowed time."""


class ApiUnavailableError(SessionbeatError):
    """The aggregator's HTTP API could not be reached or answered with an error."""


class NotFoundError(SessionbeatError):
    """A session, host or file that was asked for does not exist."""


class UnauthorizedError(ApiUnavailableError):
    """The API wants a bearer token (``SESSIONBEAT_API_TOKEN``) and got none or a wrong one.

    Raised by the HTTP client on a 401; an ``ApiUnavailableError``, so the CLI exits 4.
    """


class HistoryUnavailableError(SessionbeatError):
    """The history database could not be opened (path unwritable, disk full, corrupt file).

    The API answers 503; the CLI exits 1.
    """


class NotifyDeliveryError(SessionbeatError):
    """A notification service did not take a message (timeout, refused, HTTP error).

    ``target`` is the service's redacted URL, ``retry`` False when trying again cannot help
    (HTTP 4xx other than 408/429). The notifier retries with backoff and counts it
    (``sessionbeat_notifications_total{result="failed"}``); it never reaches the aggregator.
    """

    def __init__(self, target: str, reason: str, *, retry: bool = True) -> None:
        super().__init__(f"{target}: {reason}")
        self.target = target
        self.reason = reason
        self.retry = retry


class AgentAlreadyRunningError(SessionbeatError, RuntimeError):
    """Another host agent holds this state dir's lock (``sessionbeat agent run`` exits 0)."""


class FrameError(SessionbeatError, ValueError):
    """A frame from the hook does not follow the wire format (or carries a wrong token).

    The agent answers ``ERR`` on the socket, or renames an inbox file to ``*.bad``.
    """


class StackRunningError(ConfigError):
    """A ``sessionbeat up`` already runs for this state dir (its lock is held); exits 2.

    A clash of settings: the message says where the running stack is and how to stop it, or to
    give the new one its own ``SESSIONBEAT_STATE_DIR``.
    """


class CursorError(SessionbeatError, ValueError):
    """A ``GET /sessions`` cursor this aggregator did not issue (or that was altered).

    Raised by ``aggregator.paging.decode_cursor``; the API answers 400 with its text.
    """
