"""Host side: the hook fast path, the host agent, and hook input -> SessionBeat."""
