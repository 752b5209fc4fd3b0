"""Console-script entry point of ``sessionbeat``.

``sessionbeat publish`` (the hook Claude Code runs for every event; ``publish --announce`` for
SessionStart after ``hooks install --announce``) goes down the stdlib-only fast path in
:mod:`sessionbeat.publisher.hook` without importing typer, pydantic or paho (together ~300 ms
of start-up here); ``sessionbeat statusline`` likewise goes to
:mod:`sessionbeat.publisher.statusline`. Every other command loads the typer CLI.
"""

import sys

HELP_FLAGS = frozenset({"--help", "-h"})
"""Arguments that send ``statusline`` to the typer CLI (for its help text)."""
PUBLISH_ARGS = (["publish"], ["publish", "--announce"])
"""The argument lists that take the hook's fast path (anything else, e.g. ``--help``: typer)."""


def main() -> int:
    """Dispatch ``publish`` and ``statusline`` to their fast paths, anything else to typer."""
    argv = sys.argv
    if argv[1:] in PUBLISH_ARGS:
        from sessionbeat.publisher.hook import main as hook_main

        return hook_main(argv[2:])
    if len(argv) >= 2 and argv[1] == "statusline" and not HELP_FLAGS.intersection(argv[2:]):
        from sessionbeat.publisher.statusline import main as statusline_main

        return statusline_main(argv[2:])
    from sessionbeat.cli import main as cli_main

    return cli_main()
