"""Building and parsing sessionbeat's MQTT topics. Nothing else formats a topic string.

Topic tree (docs/architecture.md, "Topic tree"):

* ``sessionbeat/v1/<host>/status``: retained ``HostStatus`` (birth, Last Will, clean offline).
* ``sessionbeat/v1/<host>/sessions/<session_id>``: retained ``SessionBeat``; zero-length = removed.
* ``sessionbeat/aggregators/<group>/lease``: retained ``LeaseClaim`` of the aggregator that reaps
  (outside ``sessionbeat/v1/``: :func:`parse` and the state never see it).

``<host>`` and ``<session_id>`` match ``[A-Za-z0-9_.-]{1,64}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from sessionbeat.errors import TopicError

ROOT = "sessionbeat/v1"
"""Prefix of every topic; the ``v1`` bumps only with an incompatible payload change."""

SUBSCRIBE_ALL = f"{ROOT}/#"
"""The filter the aggregator subscribes to."""

AGGREGATORS_ROOT = "sessionbeat/aggregators"
"""Prefix of the aggregators' own topics (the reaper lease), outside :data:`ROOT`."""

TAIL_FILTER = "sessionbeat/#"
"""The filter documented for ``mosquitto_sub -v -t`` live tails."""

ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
"""Allowed characters of a host id or a session id (no MQTT wildcards, no slashes)."""

_INVALID_HOST_CHARS = re.compile(r"[^a-z0-9_.-]")


class TopicKind(StrEnum):
    """Which kind of sessionbeat topic a string is."""

    STATUS = "status"
    SESSION = "session"


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    """A topic split into its parts: ``session_id`` is ``None`` for a status topic."""

    kind: TopicKind
    host: str
    session_id: str | None = None


def is_valid_id(value: str) -> bool:
    """Return True if ``value`` may be used as a host id or a session id in a topic."""
    return ID_PATTERN.fullmatch(value) is not None


def _check_id(value: str, what: str) -> str:
    if not is_valid_id(value):
        raise TopicError(f"invalid {what} {value!r}: must match [A-Za-z0-9_.-]{{1,64}}")
    return value


def normalize_host_id(name: str) -> str:
    """Turn a machine name into a host id.

    Takes a hostname such as ``"Kai-MacBook.local"`` and returns the short name, lower-cased, with
    characters outside ``[a-z0-9_.-]`` replaced by ``-`` and cut to 64 characters
    (``"kai-macbook"``). Raises ``TopicError`` if nothing usable is left.
    """
    short = name.strip().split(".", 1)[0].lower()
    host = _INVALID_HOST_CHARS.sub("-", short)[:64]
    return _check_id(host, "host id")


def status_topic(host: str) -> str:
    """Return ``sessionbeat/v1/<host>/status``; raises ``TopicError`` on an invalid host id."""
    return f"{ROOT}/{_check_id(host, 'host id')}/status"


def session_topic(host: str, session_id: str) -> str:
    """Return ``sessionbeat/v1/<host>/sessions/<session_id>``; raises ``TopicError`` on bad ids."""
    return f"{ROOT}/{_check_id(host, 'host id')}/sessions/{_check_id(session_id, 'session id')}"


def lease_topic(group: str = "default") -> str:
    """Return ``sessionbeat/aggregators/<group>/lease``, the reaper lease of one aggregator group.

    Raises ``TopicError`` when ``group`` is not a valid id (``[A-Za-z0-9_.-]{1,64}``).
    """
    return f"{AGGREGATORS_ROOT}/{_check_id(group, 'aggregator group')}/lease"


def host_filter(host: str) -> str:
    """Return the subscription filter for everything one host publishes."""
    return f"{ROOT}/{_check_id(host, 'host id')}/#"


def parse(topic: str) -> ParsedTopic:
    """Split a sessionbeat topic into kind, host and session id.

    Raises ``TopicError`` for anything that is not exactly one of the two topic shapes with
    valid ids (wrong prefix, extra levels, wildcards, empty or over-long ids).
    """
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != "sessionbeat" or parts[1] != "v1":
        raise TopicError(f"not a sessionbeat/v1 topic: {topic[:200]!r}")
    host = _check_id(parts[2], "host id")
    if len(parts) == 4 and parts[3] == "status":
        return ParsedTopic(TopicKind.STATUS, host)
    if len(parts) == 5 and parts[3] == "sessions":
        return ParsedTopic(TopicKind.SESSION, host, _check_id(parts[4], "session id"))
    raise TopicError(f"unknown sessionbeat topic shape: {topic[:200]!r}")
