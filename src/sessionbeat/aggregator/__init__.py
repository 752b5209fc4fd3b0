"""The aggregator: pure state core, MQTT wiring, reaper, SQLite history and HTTP API."""
