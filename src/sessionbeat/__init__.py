"""sessionbeat: a live, cross-host monitor of Claude Code sessions over MQTT."""

__version__ = "0.1.0"
