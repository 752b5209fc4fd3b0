"""The commands ``sessionbeat up`` (the whole stack locally) and ``sessionbeat demo``.

Thin: the plan (:mod:`~sessionbeat.stack.plan`) decides what runs, the supervisor
(:mod:`~sessionbeat.stack.supervisor`) runs it, :mod:`~sessionbeat.stack.lock` keeps it to one
stack per state dir, :mod:`~sessionbeat.stack.banner` says where everything is, and
:mod:`~sessionbeat.stack.demo` replays the recorded sessions. Their modules are imported when a
command runs, so other commands do not pay for them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from sessionbeat.cli_support import get_settings


def up(
    ctx: typer.Context,
    broker_url: Annotated[
        str | None,
        typer.Option(
            help="use this MQTT broker instead of starting one",
            show_default="SESSIONBEAT_BROKER_URL or the config file's, else an embedded Mosquitto",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="aggregator HTTP port", show_default="SESSIONBEAT_HTTP_PORT or 8787"),
    ] = None,
    dashboard_port: Annotated[
        int | None,
        typer.Option(help="dashboard port", show_default="SESSIONBEAT_DASHBOARD_PORT or 8501"),
    ] = None,
    broker_port: Annotated[int, typer.Option(help="port of the embedded Mosquitto")] = 1883,
    dashboard: Annotated[bool, typer.Option(help="start the Streamlit page")] = True,
    agent: Annotated[bool, typer.Option(help="start this host's agent")] = True,
) -> None:
    """Start the whole stack locally: Mosquitto, aggregator, dashboard and agent.

    Uses the broker the settings name (--broker-url, before or after 'up',
    SESSIONBEAT_BROKER_URL or the config file).
    Without one, it starts Mosquitto on 127.0.0.1 at --broker-port.
    The banner comes once every part answers.
    Exits 2 if Mosquitto is missing or its port taken, or if 'up' already runs for this state dir.
    """
    from sessionbeat.stack.banner import banner, shell_command
    from sessionbeat.stack.lock import StackLock
    from sessionbeat.stack.plan import plan_stack
    from sessionbeat.stack.supervisor import Stack, stop_on_signals

    plan = plan_stack(
        get_settings(ctx),
        broker_url=broker_url or ctx.find_root().params.get("broker_url"),
        port=port,
        dashboard_port=dashboard_port,
        broker_port=broker_port,
        dashboard=dashboard,
        agent=agent,
    )
    with StackLock(plan.state_dir) as lock, stop_on_signals() as stop, Stack(plan) as stack:
        plan = stack.start()
        lock.record(**plan.urls())
        typer.echo(banner(plan, shell_command()))
        dead = stack.wait(stop)
        if dead:
            typer.echo(f"sessionbeat: {', '.join(dead)} exited; see {plan.log_dir}", err=True)
            raise typer.Exit(1)
        typer.echo("stopping ...")


def demo(
    ctx: typer.Context,
    delay: Annotated[float, typer.Option(help="seconds between hook events")] = 1.0,
    loop: Annotated[bool, typer.Option(help="replay again and again until Ctrl-C")] = False,
    linger: Annotated[
        float, typer.Option(help="seconds to keep the demo hosts online afterwards")
    ] = 120.0,
) -> None:
    """Replay real recorded Claude Code sessions from three demo hosts against the stack.

    Starts one real agent per demo host (macbook, kai-server, winbox) on the configured broker.
    Each recorded hook payload goes through the real 'sessionbeat publish'.
    """
    from sessionbeat.stack.banner import shell_command
    from sessionbeat.stack.demo import run_demo

    run_demo(get_settings(ctx), typer.echo, shell_command(), delay=delay, loop=loop, linger=linger)
