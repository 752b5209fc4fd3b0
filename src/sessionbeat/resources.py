"""Where the files that ship with sessionbeat are: broker configs and the recorded fixtures.

An installed wheel carries them under ``sessionbeat/_data/`` (hatch ``force-include``); a source
checkout (editable install, tests) uses the repository's own ``mosquitto/`` and
``tests/fixtures/`` directories.
"""

from __future__ import annotations

from pathlib import Path

from sessionbeat.errors import NotFoundError

_PACKAGE = Path(__file__).resolve().parent
_REPO = _PACKAGE.parent.parent

_LOCATIONS = {
    "mosquitto": (_PACKAGE / "_data" / "mosquitto", _REPO / "mosquitto"),
    "fixtures": (_PACKAGE / "_data" / "fixtures", _REPO / "tests" / "fixtures" / "claude-code"),
}


def resource_dir(name: str) -> Path:
    """Return the directory of a shipped resource (``"mosquitto"`` or ``"fixtures"``).

    Raises ``NotFoundError`` if neither the package data nor the source checkout has it.
    """
    for candidate in _LOCATIONS[name]:
        if candidate.is_dir():
            return candidate
    raise NotFoundError(f"resource directory {name!r} not found (looked in package and repo)")
