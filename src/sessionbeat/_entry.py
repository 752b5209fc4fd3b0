"""Console-script entry point of ``sessionbeat``.

``sessionbeat publish`` (the hook Claude Code runs for every event) goes down the stdlib-only
fast path in :mod:`sessionbeat.publisher.hook` without importing typer, pydantic or paho
(together ~300 ms of start-up here); ``sessionbeat statusline`` likewise goes to
:mod:`sessionbeat.publisher.statusline`. Every other command loads the typer CLI.
"""

import sys


def main() -> int:
    """Dispatch ``publish`` to the hook fast path, anything else to the typer app."""
    argv = sys.argv
    if len(argv) == 2 and argv[1] == "publish":
        from sessionbeat.publisher.hook import main as hook_main

        return hook_main(argv[2:])
    if len(argv) == 2 and argv[1] == "statusline":
        from sessionbeat.publisher.statusline import main as statusline_main

        return statusline_main(argv[2:])
    from sessionbeat.cli import main as cli_main

    return cli_main()
