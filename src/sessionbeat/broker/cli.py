"""``sessionbeat broker``: add, remove and list the production broker's users.

The roles, files and hashing are described in :mod:`sessionbeat.broker.users`; these commands
print the broker URL each new user goes with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sessionbeat.broker.users import (
    DEFAULT_ACL,
    DEFAULT_PASSWD,
    Role,
    acl_roles,
    add_user,
    broker_url,
    delete_user,
    passwd_users,
    this_machine,
)
from sessionbeat.topics import ROOT

app = typer.Typer(
    help="Broker users: hosts, the aggregator, read-only viewers.", no_args_is_help=True
)

RELOAD_HINT = "Reload the broker to apply: docker compose kill -s SIGHUP mosquitto"


PasswdOption = Annotated[
    Path, typer.Option("--passwd-file", help="mosquitto password file (created if missing)")
]
ExistingPasswdOption = Annotated[
    Path, typer.Option("--passwd-file", help="mosquitto password file")
]
AclOption = Annotated[Path, typer.Option("--acl-file", help="mosquitto ACL file")]
PasswordOption = Annotated[
    str | None,
    typer.Option("--password", help="password to set", show_default="a random one"),
]
ForceOption = Annotated[bool, typer.Option("--force", help="set a new password if it exists")]
PortOption = Annotated[
    int | None,
    typer.Option("--port", help="broker port in the URL", show_default="1883, with --tls 8883"),
]
TlsOption = Annotated[bool, typer.Option("--tls", help="mqtts:// URL (the TLS listener)")]


URL_VARIABLE = {
    Role.HOST: "SESSIONBEAT_BROKER_URL",
    Role.AGGREGATOR: "SESSIONBEAT_AGGREGATOR_BROKER_URL",
    Role.VIEWER: "SESSIONBEAT_BROKER_URL",
}
"""The variable each role's URL goes in: the aggregator's is .env's, as compose.yaml reads it."""


def _report(name: str, role: Role, url: str, passwd_file: Path) -> None:
    typer.echo(f"{role.value} {name!r} set in {passwd_file}. {RELOAD_HINT}", err=True)
    typer.echo(f"{URL_VARIABLE[role]}={url}")


@app.command("add-host")
def add_host(
    name: Annotated[str, typer.Argument(help="the host id (SESSIONBEAT_HOST of that machine)")],
    broker_host: Annotated[
        str | None,
        typer.Option(
            "--broker-host",
            help="broker address as the host sees it",
            show_default="this machine's name",
        ),
    ] = None,
    port: PortOption = None,
    tls: TlsOption = False,
    password: PasswordOption = None,
    force: ForceOption = False,
    passwd_file: PasswdOption = DEFAULT_PASSWD,
    acl_file: AclOption = DEFAULT_ACL,
) -> None:
    """Create the broker user of a host; print the SESSIONBEAT_BROKER_URL to set on it."""
    secret = add_user(name, Role.HOST, passwd_file, acl_file, password, force)
    url = broker_url(name, secret, broker_host or this_machine(), port, tls)
    _report(name, Role.HOST, url, passwd_file)


@app.command("add-aggregator")
def add_aggregator(
    name: Annotated[str, typer.Argument(help="user name")] = "aggregator",
    broker_host: Annotated[
        str, typer.Option("--broker-host", help="broker address as the aggregator sees it")
    ] = "mosquitto",
    port: PortOption = None,
    tls: TlsOption = False,
    password: PasswordOption = None,
    force: ForceOption = False,
    passwd_file: PasswdOption = DEFAULT_PASSWD,
    acl_file: AclOption = DEFAULT_ACL,
) -> None:
    """Create the aggregator's broker user; print SESSIONBEAT_AGGREGATOR_BROKER_URL for .env.

    compose.yaml hands that variable to the aggregator container as its SESSIONBEAT_BROKER_URL.
    """
    secret = add_user(name, Role.AGGREGATOR, passwd_file, acl_file, password, force)
    _report(name, Role.AGGREGATOR, broker_url(name, secret, broker_host, port, tls), passwd_file)


@app.command("add-viewer")
def add_viewer(
    name: Annotated[str, typer.Argument(help="user name")],
    broker_host: Annotated[
        str | None,
        typer.Option(
            "--broker-host",
            help="broker address as the viewer sees it",
            show_default="this machine's name",
        ),
    ] = None,
    port: PortOption = None,
    tls: TlsOption = False,
    password: PasswordOption = None,
    force: ForceOption = False,
    passwd_file: PasswdOption = DEFAULT_PASSWD,
    acl_file: AclOption = DEFAULT_ACL,
) -> None:
    """Create a read-only broker user; print its URL and a mosquitto_sub ticker command."""
    secret = add_user(name, Role.VIEWER, passwd_file, acl_file, password, force)
    url = broker_url(name, secret, broker_host or this_machine(), port, tls)
    _report(name, Role.VIEWER, url, passwd_file)
    typer.echo(f"Ticker: mosquitto_sub -L '{url}/{ROOT}/#' -v", err=True)


@app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="user name")],
    passwd_file: ExistingPasswdOption = DEFAULT_PASSWD,
) -> None:
    """Delete a broker user's password entry (its ACL block, if any, stays and grants nothing)."""
    delete_user(passwd_file, name)
    typer.echo(f"removed {name!r} from {passwd_file}. {RELOAD_HINT}", err=True)


@app.command("list")
def list_users(
    passwd_file: ExistingPasswdOption = DEFAULT_PASSWD, acl_file: AclOption = DEFAULT_ACL
) -> None:
    """Print each broker user and its role (host, aggregator or viewer), one per line."""
    roles = acl_roles(acl_file) if acl_file.is_file() else {}
    for user in passwd_users(passwd_file):
        typer.echo(f"{user}\t{roles.get(user, Role.HOST).value}")
