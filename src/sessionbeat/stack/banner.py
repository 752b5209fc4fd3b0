"""What ``sessionbeat up`` prints once every part answers, and how to run ``sessionbeat`` here.

:func:`banner` is a pure function of the plan; :func:`shell_command` looks at ``PATH`` and this
installation's console script.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from sessionbeat import topics
from sessionbeat.errors import NotFoundError
from sessionbeat.stack.plan import StackPlan


def banner(plan: StackPlan, command: str) -> str:
    """Return the banner of a running stack: broker, API, page, live tail, demo, logs.

    ``command`` is how to run ``sessionbeat`` from this shell (:func:`shell_command`). The
    broker is shown without its password; the demo line carries ``--broker-url`` when a plain
    ``sessionbeat demo`` would miss the stack's broker (:attr:`StackPlan.demo_needs_broker_url`).
    """
    where = plan.broker_display
    if plan.embedded:
        where += f"  (embedded, data in {plan.broker_dir})"
    broker = plan.broker_address
    flag = f" --broker-url {plan.broker_display}" if plan.demo_needs_broker_url else ""
    return (
        "sessionbeat is up.\n"
        f"  broker      {where}\n"
        f"  API         {plan.api_url}/sessions   (also /summary /hosts /history /metrics)\n"
        + (f"  dashboard   {plan.dashboard_url}\n" if plan.dashboard_url else "")
        + f"  live tail   mosquitto_sub -h {broker.host} -p {broker.port} -v -t "
        f"'{topics.TAIL_FILTER}'\n"
        f"  try         {command}{flag} demo     (replays recorded sessions from three hosts)\n"
        f"  logs        {plan.log_dir}\n"
        "Ctrl-C stops everything."
    )


def shell_command() -> str:
    """Return how to run ``sessionbeat`` from this shell: the bare name if PATH finds this one.

    Else the path of this installation's console script, relative to the working directory
    when inside it (``./.venv/bin/sessionbeat`` after ``./scripts/up``), else
    ``<python> -m sessionbeat``.
    """
    from sessionbeat.publisher.agent_files import console_script

    try:
        script = console_script()
    except NotFoundError:
        return f"{sys.executable} -m sessionbeat"
    found = shutil.which("sessionbeat")
    if found and Path(found).resolve() == script.resolve():
        return "sessionbeat"
    try:
        return f"./{script.relative_to(Path.cwd())}"
    except ValueError:
        return str(script)
