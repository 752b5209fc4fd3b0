"""Wire text is made harmless before a terminal or the page shows it (readers/render.py)."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionbeat.readers.render import json_safe, safe_text

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
"""Every Unicode bidirectional formatting character (UAX #9, table 1)."""
HOSTILE = (
    "\x1b]0;pwned\x07"  # set the window title (OSC ... BEL)
    "\x1b[2J\x1b[H"  # clear the screen, cursor home
    "done\r"  # carriage return: later text overwrites the line
    "\x9b31m"  # the 8-bit CSI (C1) form
    "\x7f\x00\x08"  # DEL, NUL, backspace
    "\u202eexe.txt"  # right-to-left override: "txt.exe" reads reversed
)


def unsafe(text: str) -> list[str]:
    """The characters of ``text`` a terminal or a browser could act on or reorder."""
    return [c for c in text if unicodedata.category(c) == "Cc" or c in BIDI]


def unsafe_shown(output: str) -> list[str]:
    """The unsafe characters of a whole output, less the line breaks between its lines."""
    return [c for c in unsafe(output) if c != "\n"]


def test_escape_sequences_and_bidi_controls_are_removed() -> None:
    """An OSC title, a screen clear, CR, C1 CSI and an RLO leave only their printable text."""
    assert safe_text(HOSTILE) == "]0;pwned[2J[Hdone 31mexe.txt"
    assert unsafe(safe_text(HOSTILE + BIDI)) == []


def test_line_breaks_and_tabs_become_spaces() -> None:
    """A multi-line value stays readable on one line: words are not glued together."""
    assert safe_text("fix\nthe\tlogin\r\nform") == "fix the login  form"


@pytest.mark.parametrize("text", ["café", "日本語のリポジトリ", "🚀 deploy", "/srv/a b/c-d_e.f"])
def test_ordinary_text_is_kept_as_it_is(text: str) -> None:
    """Accents, CJK, emoji and punctuation are shown unchanged."""
    assert safe_text(text) == text


@given(st.text())
def test_nothing_unsafe_survives_and_safe_text_is_stable(text: str) -> None:
    """For any string: no control or bidi character is left, and a second pass changes nothing."""
    cleaned = safe_text(text)
    assert unsafe(cleaned) == []
    assert safe_text(cleaned) == cleaned


@given(
    st.recursive(
        st.none() | st.text() | st.integers(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
    )
)
def test_json_keeps_its_data_and_loses_its_controls(value: object) -> None:
    """`--json` output parses to the very same data, with every unsafe character escaped."""
    text = json_safe(json.dumps(value, ensure_ascii=False, indent=2))
    assert json.loads(text) == value
    assert unsafe_shown(text) == []
