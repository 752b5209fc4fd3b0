"""Prometheus exporter: a custom Collector over an aggregator state snapshot."""
