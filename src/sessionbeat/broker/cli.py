"""``sessionbeat broker``: the production broker's users, and its TLS certificate.

The roles, files and hashing are described in :mod:`sessionbeat.broker.users`; these commands
print the broker URL each new user goes with. ``broker tls`` makes a private CA and the
broker's certificate (:mod:`sessionbeat.broker.tls`) and enables the 8883 listener.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from sessionbeat.broker.tls import (
    DEFAULT_CONFIG,
    DEFAULT_DIR,
    SERVER_DAYS,
    TLS_LISTENER,
    TLS_PORT,
    ListenerChange,
    enable_tls_listener,
    not_after,
    write_tls_files,
)
from sessionbeat.broker.users import (
    DEFAULT_ACL,
    DEFAULT_PASSWD,
    Role,
    acl_roles,
    add_user,
    broker_url,
    delete_user,
    group_hint,
    passwd_users,
    this_machine,
)
from sessionbeat.topics import ROOT

app = typer.Typer(
    help="Broker users (hosts, the aggregator, read-only viewers) and TLS.", no_args_is_help=True
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
    if (hint := group_hint(passwd_file)) is not None:
        typer.echo(hint, err=True)
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


@app.command("tls")
def tls(
    hosts: Annotated[
        list[str],
        typer.Option(
            "--host",
            help="the broker's DNS name or IP address as the clients use it (repeat for more)",
        ),
    ],
    directory: Annotated[
        Path, typer.Option("--dir", help="where the certificate files go")
    ] = DEFAULT_DIR,
    config: Annotated[
        Path, typer.Option("--config", help="mosquitto.conf whose 8883 listener to enable")
    ] = DEFAULT_CONFIG,
    days: Annotated[
        int, typer.Option("--days", min=1, max=3650, help="validity of the broker's certificate")
    ] = SERVER_DAYS,
    force: Annotated[
        bool, typer.Option("--force", help="replace an existing server certificate")
    ] = False,
) -> None:
    """Make a CA and the broker's certificate, enable the 8883 listener, say what hosts need.

    An existing CA in --dir is kept (hosts keep their ca.crt). The listener block of --config
    is uncommented only if it is still as committed; otherwise the lines to add are printed.
    """
    files = write_tls_files(directory, hosts, days, force)
    until = not_after(files.server_cert).date().isoformat()
    typer.echo(f"wrote {files.server_cert} for {', '.join(hosts)} (valid until {until})")
    typer.echo(f"      {files.server_key} (mode 0640), {files.ca_cert} (the CA clients trust)")
    typer.echo(f"      {files.ca_key} (mode 0600): keep it on this machine, never copy it")
    try:
        text = config.read_text(encoding="utf-8")
    except OSError:
        text = ""
    new, change = enable_tls_listener(text)
    if change is ListenerChange.ENABLED:
        tmp = config.with_name(f".{config.name}.tmp")
        tmp.write_text(new, encoding="utf-8")
        shutil.copymode(config, tmp)
        tmp.replace(config)
        typer.echo(f"enabled the listener {TLS_PORT} block in {config}")
    elif change is ListenerChange.ALREADY:
        typer.echo(f"the listener {TLS_PORT} block of {config} is already enabled")
    else:
        typer.echo(f"{config} has no committed TLS block to enable; add these lines to it:")
        typer.echo("".join(f"  {line}\n" for line in TLS_LISTENER), nl=False)
    first = hosts[0]
    shown = f"[{first}]" if ":" in first else first
    volume = directory if directory.is_absolute() else f"./{directory}"  # else a named volume
    typer.echo(
        f"""
On this server:
  {group_hint(files.server_key) or "the key's group may read it (the container's Mosquitto)"}
  compose.yaml, service mosquitto: add the volume {volume}:/mosquitto/certs:ro
    and the port "${{SESSIONBEAT_BIND_ADDRESS}}:{TLS_PORT}:{TLS_PORT}"
  docker compose up -d mosquitto
On each host: copy {files.ca_cert} there (it is public), then set
  SESSIONBEAT_BROKER_URL=mqtts://<user>:<password>@{shown}:{TLS_PORT}
  SESSIONBEAT_BROKER_CA_FILE=<where you copied ca.crt>
  (the same user and password as on 1883; `sessionbeat broker add-host NAME --tls
  --broker-host {first}` prints a new URL)"""
    )
