"""Notification services from Apprise URLs: parse once, send a message, withdraw it.

Every URL is parsed by Apprise (``Apprise.instantiate``), which knows 100+ services and their URL
forms (https://github.com/caronc/apprise/wiki). Two kinds of :class:`Target` come out:

* :class:`AppriseTarget` sends through the Apprise plugin itself (``plugin.notify``). Such a
  message cannot be deleted later; an "answered" follow-up can be sent instead (opt-in).
* :class:`NtfyTarget`, for ``ntfy://`` and ``ntfys://`` URLs: Apprise parses the URL (server,
  topics, user/password or token), and sessionbeat publishes with ntfy's HTTP API itself so that
  the message carries a **sequence id** (``X-Sequence-ID``; ntfy docs "Publishing", "Updating +
  deleting notifications", ntfy >= 2.16), which is what lets it **delete** the message when the
  approval is answered (``DELETE /<topic>/<sequence_id>``). Apprise's ntfy plugin sends no
  sequence id and returns no message id. An older ntfy server ignores the header and answers the
  DELETE with an error: the withdrawal is counted as failed, the message stays.

Secrets never leave this module: a target shows itself by Apprise's privacy URL (passwords and
tokens masked), and error texts are scrubbed of every secret-looking part of the raw URL.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from email.header import Header
from typing import Any
from urllib.parse import quote

import apprise
import httpx

from sessionbeat.errors import NotifyDeliveryError
from sessionbeat.notifier.messages import Message

log = logging.getLogger(__name__)

APPRISE_LOGGER = "apprise"
"""The logger Apprise's plugins report failures to (their only error channel)."""

RETRY_STATUSES = frozenset({408, 425, 429})
"""HTTP statuses below 500 worth another try (timeouts, rate limits)."""

_SPLIT = re.compile(r"[/:@?&=#,+;]")


class _Captured(logging.Handler):
    """Keeps Apprise's WARNING+ records per thread while a delivery on that thread runs."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        lines: list[str] | None = getattr(self.local, "lines", None)
        if lines is not None:
            lines.append(record.getMessage())


_CAPTURE = _Captured()


def quiet_apprise() -> None:
    """Route Apprise's log records to the delivery that caused them, not to the root logger.

    The notifier logs each failure streak itself, once, with the target's redacted URL.
    Idempotent.
    """
    logger = logging.getLogger(APPRISE_LOGGER)
    if _CAPTURE not in logger.handlers:
        logger.addHandler(_CAPTURE)
    logger.propagate = False


def _secrets(raw: str, public: str) -> list[str]:
    """Return the parts of ``raw`` (6+ characters) its privacy form ``public`` does not show."""
    shown = set(_SPLIT.split(public))
    return sorted(
        {part for part in _SPLIT.split(raw) if len(part) >= 6 and part not in shown},
        key=len,
        reverse=True,
    )


@dataclass
class Target:
    """One notification service. ``url`` is the redacted URL (safe to log and show).

    ``withdraw`` is True when :meth:`delete` can remove a sent message.
    """

    service: str
    url: str
    withdraw: bool = False
    secrets: list[str] = field(default_factory=list, repr=False)

    def scrub(self, text: str) -> str:
        """Return ``text`` with every secret of the raw URL replaced by ``***``."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def send(self, message: Message, sequence_id: str, timeout: float) -> None:
        """Deliver ``message`` within ``timeout`` seconds; raise ``NotifyDeliveryError`` if not."""
        raise NotImplementedError

    def delete(self, sequence_id: str, timeout: float) -> None:
        """Delete the message sent with ``sequence_id``; raise ``NotifyDeliveryError`` if not."""
        raise NotifyDeliveryError(self.url, "this service cannot delete a message", retry=False)


@dataclass
class AppriseTarget(Target):
    """A service Apprise delivers to (``plugin`` is its ``NotifyBase`` instance)."""

    plugin: Any = None

    def send(self, message: Message, sequence_id: str, timeout: float) -> None:
        """Send through the Apprise plugin; its logged failure becomes the error's reason."""
        self.plugin.socket_read_timeout = timeout
        self.plugin.socket_connect_timeout = min(timeout, 4.0)
        _CAPTURE.local.lines = []
        try:
            ok = self.plugin.notify(
                body=message.body,
                title=message.title,
                notify_type=apprise.NotifyType.WARNING
                if message.priority == "high"
                else apprise.NotifyType.INFO,
                body_format=apprise.NotifyFormat.TEXT,
            )
        except Exception as exc:  # a plugin bug must not end the delivery thread
            raise NotifyDeliveryError(self.url, self.scrub(f"{type(exc).__name__}: {exc}")) from exc
        finally:
            lines: list[str] = _CAPTURE.local.lines
            _CAPTURE.local.lines = None
        if not ok:
            reason = lines[-1] if lines else "the service did not take the message"
            raise NotifyDeliveryError(self.url, self.scrub(reason.strip()))


@dataclass
class NtfyTarget(Target):
    """An ntfy server and its topics, published to with httpx (see module docstring)."""

    base: str = ""
    topics: tuple[str, ...] = ()
    auth: tuple[str, str] | None = None
    token: str | None = None
    verify: bool = True

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _call(self, method: str, url: str, timeout: float, **kwargs: Any) -> None:
        try:
            response = httpx.request(
                method, url, timeout=timeout, auth=self.auth, verify=self.verify, **kwargs
            )
        except httpx.HTTPError as exc:
            raise NotifyDeliveryError(self.url, self.scrub(f"{type(exc).__name__}: {exc}")) from exc
        if response.status_code >= 400:
            code = response.status_code
            retry = code >= 500 or code in RETRY_STATUSES
            detail = self.scrub(response.text.strip()[:200])
            reason = f"HTTP {code} {response.reason_phrase}" + (f": {detail}" if detail else "")
            raise NotifyDeliveryError(self.url, reason, retry=retry)

    def send(self, message: Message, sequence_id: str, timeout: float) -> None:
        """Publish to every topic with the sequence id (ntfy's ``X-Sequence-ID`` header)."""
        headers = self._headers() | {
            "Title": _header(message.title),
            "Priority": message.priority,
            "X-Sequence-ID": sequence_id,
        }
        if message.tags:
            headers["Tags"] = ",".join(message.tags)
        if message.click:
            headers["Click"] = message.click
        for topic in self.topics:
            self._call(
                "POST",
                f"{self.base}/{quote(topic, safe='')}",
                timeout,
                content=message.body.encode(),
                headers=headers,
            )

    def delete(self, sequence_id: str, timeout: float) -> None:
        """Delete the message with ``sequence_id`` from every topic (ntfy >= 2.16)."""
        for topic in self.topics:
            self._call(
                "DELETE",
                f"{self.base}/{quote(topic, safe='')}/{quote(sequence_id, safe='')}",
                timeout,
                headers=self._headers(),
            )


def _header(text: str) -> str:
    """Return ``text`` as an HTTP header value: RFC 2047 encoded unless it is ASCII."""
    try:
        text.encode("ascii")
    except UnicodeEncodeError:
        return Header(text, "utf-8").encode()
    return text


def _ntfy(plugin: Any, raw: str, public: str) -> NtfyTarget:
    """Return an :class:`NtfyTarget` for Apprise's parsed ntfy ``plugin``."""
    if plugin.mode == "cloud":
        base = plugin.cloud_notify_url
    else:
        base = f"{'https' if plugin.secure else 'http'}://{plugin.host}"
        if isinstance(plugin.port, int):
            base += f":{plugin.port}"
    auth = None
    token = None
    if plugin.auth == "token" and plugin.token:
        token = plugin.token
    elif plugin.user and plugin.password:
        auth = (plugin.user, plugin.password)
    return NtfyTarget(
        service="ntfy",
        url=public,
        withdraw=True,
        secrets=_secrets(raw, public),
        base=base,
        topics=tuple(plugin.topics),
        auth=auth,
        token=token,
        verify=bool(plugin.verify_certificate),
    )


def build_targets(urls: list[str]) -> tuple[list[Target], list[str]]:
    """Parse Apprise ``urls``; return the targets and, per unusable URL, a reason (no secrets).

    Calls no service.
    """
    quiet_apprise()
    targets: list[Target] = []
    invalid: list[str] = []
    for raw in urls:
        raw = raw.strip()
        scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
        plugin = apprise.Apprise.instantiate(raw) if scheme else None
        if plugin is None:
            invalid.append(
                f"{scheme or '(no scheme)'}://… is not a URL Apprise can use "
                "(see https://github.com/caronc/apprise/wiki for each service's form)"
            )
            continue
        public = str(plugin.url(privacy=True)).split("?", 1)[0]  # type: ignore[no-untyped-call]
        if scheme in ("ntfy", "ntfys"):
            targets.append(_ntfy(plugin, raw, public))
        else:
            targets.append(
                AppriseTarget(
                    service=str(plugin.service_name),
                    url=public,
                    secrets=_secrets(raw, public),
                    plugin=plugin,
                )
            )
    return targets, invalid
