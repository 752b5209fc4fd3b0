"""Text for people, shared by every part: wire text made inert, durations in words (pure).

:func:`safe_text` is applied to anything a host published (a cwd, a repo, a task) before a
terminal, the page, a push or a model's context shows it; :func:`duration` writes seconds the
way every reader, the page, the notifier and the hook's SessionStart context say them. Stdlib
only: the contract's one text module, importable from every package.
"""

from __future__ import annotations

BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
"""The Unicode bidirectional formatting characters (UAX #9, table 1): ALM, LRM, RLM, the
embeddings and overrides (LRE, RLE, PDF, LRO, RLO) and the isolates (LRI, RLI, FSI, PDI). They
reorder what a reader sees ("Trojan Source", CVE-2021-42574)."""
UNSAFE_CHARACTERS = (
    [chr(c) for c in range(0x20)] + [chr(c) for c in range(0x7F, 0xA0)] + list(BIDI_CONTROLS)
)
"""What :func:`safe_text` removes: the C0 controls, DEL, the C1 controls and the bidi
controls. A terminal acts on ESC and the C1 CSI (colours, cursor moves, the window title,
hyperlinks, and on some terminals writing to the clipboard), CR overwrites the line."""
_BREAKS = "\t\n\v\f\r\x85"
"""Controls that separate words (tab, line and page breaks): replaced by a space, not dropped."""
_SAFE_TABLE = {ord(c): (" " if c in _BREAKS else None) for c in UNSAFE_CHARACTERS}


def safe_text(text: str) -> str:
    """Return ``text`` with no control or bidi character: safe for a terminal or the page.

    Removes :data:`UNSAFE_CHARACTERS` (C0, DEL, C1, Unicode bidi controls); tabs, line and page
    breaks become a space so that words stay apart. Everything else (accents, CJK, emoji) is
    kept. Idempotent.
    """
    return text.translate(_SAFE_TABLE)


def duration(seconds: float | None) -> str:
    """Return a compact duration: ``"45 s"``, ``"2 min"``, ``"3 h 05 min"``, ``"2 d 4 h"``.

    ``None`` gives ``"-"``.
    """
    if seconds is None:
        return "-"
    total = max(0, int(seconds))
    if total < 60:
        return f"{total} s"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
