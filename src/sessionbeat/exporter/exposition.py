"""One ``/metrics`` response: the format the scraper asks for, gzipped if it accepts gzip.

Content negotiation is client_python's own (``prometheus_client.exposition.choose_encoder``):
an ``Accept`` header asking for ``application/openmetrics-text`` gets OpenMetrics 1.0.0
(https://github.com/prometheus/OpenMetrics/blob/main/specification/OpenMetrics.md), ending in
``# EOF``, where ``sessionbeat_context_usage_ratio`` has its real type ``gaugehistogram``; any
other ``Accept`` (or none) gets the classic text format 0.0.4
(https://prometheus.io/docs/instrumenting/exposition_formats/), which has no gauge histogram
type, so client_python declares it ``histogram`` with its ``_bucket``, ``_gcount`` and
``_gsum`` samples. Prometheus sends ``Accept: application/openmetrics-text...`` and
``Accept-Encoding: gzip`` by default. docs/metrics.md ("Formats") shows both.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted

GZIP_LEVEL = 1
"""zlib level of a gzipped scrape: level 1 is several times faster than the default 9 and the
exposition's repeated names compress about 20x anyway (bench/README.md, bench_metrics.py)."""


@dataclass(frozen=True, slots=True)
class Exposition:
    """A rendered scrape: ``body`` bytes and the HTTP ``headers`` to send with them.

    ``headers`` holds ``Content-Type`` (the chosen format with its version), ``Vary`` and,
    when the body is gzipped, ``Content-Encoding: gzip``.
    """

    body: bytes
    headers: dict[str, str]

    @property
    def media_type(self) -> str:
        """Return the ``Content-Type`` header's value."""
        return self.headers["Content-Type"]


def render(
    registry: CollectorRegistry, accept: str | None, accept_encoding: str | None
) -> Exposition:
    """Collect ``registry`` once in the format ``accept`` asks for; gzip it if accepted.

    ``accept`` and ``accept_encoding`` are the request's ``Accept`` and ``Accept-Encoding``
    header values (None: absent). Returns an :class:`Exposition`. Raises whatever a collector
    raises while collecting.
    """
    encoder, content_type = choose_encoder(accept or "")
    body = encoder(registry)
    headers = {"Content-Type": content_type, "Vary": "Accept, Accept-Encoding"}
    if accept_encoding and gzip_accepted(accept_encoding):
        body = gzip.compress(body, compresslevel=GZIP_LEVEL)
        headers["Content-Encoding"] = "gzip"
    return Exposition(body, headers)
