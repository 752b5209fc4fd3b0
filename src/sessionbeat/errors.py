"""Named exceptions of sessionbeat.

Each is converted at a boundary: the CLI turns them into exit codes, the HTTP API into status
codes, the aggregator's ingest into a ``sessionbeat_messages_rejected_total{reason=...}`` count.
Nothing here imports a third-party package, so the hook path may import it.
"""

from __future__ import annotations

from enum import StrEnum


class RejectReason(StrEnum):
    """Why the aggregator rejected an MQTT message (the ``reason`` label of the counter)."""

    BAD_TOPIC = "bad_topic"
    TOO_LARGE = "too_large"
    BAD_JSON = "bad_json"
    SCHEMA = "schema"
    HOST_MISMATCH = "host_mismatch"
    SESSION_MISMATCH = "session_mismatch"


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


class StackRunningError(ConfigError):
    """A ``sessionbeat up`` already runs for this state dir (its lock is held); exits 2.

    A clash of settings: the message says where the running stack is and how to stop it, or to
    give the new one its own ``SESSIONBEAT_STATE_DIR``.
    """
