"""Building and parsing sessionbeat's MQTT topics. Nothing else formats a topic string.

Topic tree (docs/architecture.md, "Topic tree"):

* ``sessionbeat/v1/<host>/status``: retained ``HostStatus`` (birth, Last Will, clean offline).
* ``sessionbeat/v1/<host>/sessions/<session_id>``: retained ``SessionBeat``; zero-length = removed.
* ``sessionbeat/aggregators/<group>/lease``: retained ``LeaseClaim`` of the aggregator that reaps
  (outside ``sessionbeat/v1/``: :func:`parse` and the state never see it).
* ``sessionbeat/sites/<site>/bridge``: retained ``1``/``0``, the Mosquitto bridge notification of
  a site broker's link to the central one (``notification_topic``; docs/deployment.md, "Sites and
  bridges").

``<host>``, ``<session_id>`` and ``<site>`` match ``[A-Za-z0-9_.-]{1,64}``.
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
SITES_ROOT = "sessionbeat/sites"
"""Prefix of the sites' bridge notification topics (outside ``v1``: Mosquitto writes them)."""

SUBSCRIBE_BRIDGES = f"{SITES_ROOT}/+/bridge"
"""The filter the aggregator subscribes to for every site's bridge notification."""

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


def bridge_topic(site: str) -> str:
    """Return ``sessionbeat/sites/<site>/bridge``; raises ``TopicError`` on an invalid site id.

    The value of ``notification_topic`` in the site broker's bridge config (mosquitto/bridge.conf).
    """
    return f"{SITES_ROOT}/{_check_id(site, 'site id')}/bridge"


def site_mirror(site: str, topic: str) -> str:
    """Return where the aggregator clears ``topic`` on a site broker, through its bridge.

    ``sessionbeat/v1/<rest>`` becomes ``sessionbeat/sites/<site>/v1/<rest>``; the site's bridge
    maps that prefix back to ``sessionbeat/v1/`` (``topic # in 1 sessionbeat/v1/
    sessionbeat/sites/<site>/v1/`` in mosquitto/bridge.conf). Raises ``TopicError`` on an
    invalid site id or a topic outside ``sessionbeat/v1/``.
    """
    if not topic.startswith(ROOT + "/"):
        raise TopicError(f"not a sessionbeat/v1 topic: {topic[:200]!r}")
    return f"{SITES_ROOT}/{_check_id(site, 'site id')}/v1/{topic[len(ROOT) + 1 :]}"


def parse_bridge(topic: str) -> str | None:
    """Return the site id of a bridge notification topic, None if ``topic`` is not under sites.

    Raises ``TopicError`` for a topic under ``sessionbeat/sites/`` that is not exactly
    ``sessionbeat/sites/<site>/bridge`` with a valid site id.
    """
    if not topic.startswith(SITES_ROOT + "/"):
        return None
    parts = topic.split("/")
    if len(parts) != 4 or parts[3] != "bridge":
        raise TopicError(f"unknown sessionbeat sites topic shape: {topic[:200]!r}")
    return _check_id(parts[2], "site id")
