"""``sessionbeat broker``: the production broker's users (mosquitto password file and ACL).

Three roles (docs/architecture.md "Security model", ``mosquitto/acl``):

* a **host** (user name = its host id) may read and write only ``sessionbeat/v1/<host>/#``,
  by the ACL's ``pattern readwrite sessionbeat/v1/%u/#``; nothing is added to the ACL;
* the **aggregator** reads everything and may clear retained topics (``topic readwrite
  sessionbeat/v1/#``);
* a **viewer** may only read (``topic read sessionbeat/v1/#``, plus a ``deny`` of the subtree
  the host pattern would give its name).

Passwords are hashed by Mosquitto's own ``mosquitto_passwd`` (PBKDF2-SHA512) into the password
file; aggregator and viewer names get a ``user`` block appended to the ACL file when missing.
Mosquitto reads both at start and on SIGHUP. Defaults are the repository's ``mosquitto/passwd``
and ``mosquitto/acl``, the files compose.yaml mounts (run from the repository directory).
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import typer

from sessionbeat.errors import ConfigError, NotFoundError
from sessionbeat.topics import ROOT, is_valid_id

app = typer.Typer(
    help="Broker users: hosts, the aggregator, read-only viewers.", no_args_is_help=True
)

DEFAULT_PASSWD = Path("mosquitto/passwd")
DEFAULT_ACL = Path("mosquitto/acl")
PASSWD_HINT = (
    "mosquitto_passwd is not installed. Debian/Ubuntu: sudo apt-get install -y mosquitto; "
    "macOS: brew install mosquitto"
)
RELOAD_HINT = "Reload the broker to apply: docker compose kill -s SIGHUP mosquitto"


class Role(StrEnum):
    """What a broker user may do (see the module docstring)."""

    HOST = "host"
    AGGREGATOR = "aggregator"
    VIEWER = "viewer"


def find_mosquitto_passwd() -> Path:
    """Return the ``mosquitto_passwd`` binary; raises ``NotFoundError`` with an install hint."""
    found = shutil.which("mosquitto_passwd")
    if found:
        return Path(found)
    for directory in ("/usr/bin", "/usr/local/bin", "/opt/homebrew/bin"):
        candidate = Path(directory) / "mosquitto_passwd"
        if candidate.is_file():
            return candidate
    raise NotFoundError(PASSWD_HINT)


def passwd_users(passwd_file: Path) -> list[str]:
    """Return the user names in a mosquitto password file (``user:hash`` lines), in order."""
    if not passwd_file.is_file():
        return []
    lines = passwd_file.read_text(encoding="utf-8").splitlines()
    return [line.split(":", 1)[0] for line in lines if ":" in line and not line.startswith("#")]


def acl_roles(acl_file: Path) -> dict[str, Role]:
    """Return the users that have their own block in a mosquitto ACL file, with their role.

    A user granted ``readwrite`` (or ``write``) on ``sessionbeat/v1/#`` is the aggregator,
    any other user block is a viewer. Format: mosquitto.conf(5), "acl_file".
    """
    roles: dict[str, Role] = {}
    user: str | None = None
    for raw in acl_file.read_text(encoding="utf-8").splitlines():
        words = raw.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "user" and len(words) == 2:
            user = words[1]
            roles.setdefault(user, Role.VIEWER)
        elif words[0] == "pattern":
            continue
        elif (
            words[0] == "topic"
            and user is not None
            and words[1:] in (["readwrite", f"{ROOT}/#"], ["write", f"{ROOT}/#"])
        ):
            roles[user] = Role.AGGREGATOR
    return roles


def acl_block(name: str, role: Role) -> str:
    """Return the ACL lines that give ``name`` its role (hosts need none: empty string)."""
    if role is Role.HOST:
        return ""
    if role is Role.AGGREGATOR:
        return f"\nuser {name}\ntopic readwrite {ROOT}/#\n"
    return f"\nuser {name}\ntopic read {ROOT}/#\ntopic deny {ROOT}/{name}/#\n"


def set_password(passwd_file: Path, user: str, password: str) -> None:
    """Add or update ``user`` in ``passwd_file`` (created when missing) with mosquitto_passwd.

    Raises ``NotFoundError`` without ``mosquitto_passwd``, ``ConfigError`` if it fails.
    """
    binary = find_mosquitto_passwd()
    passwd_file.parent.mkdir(parents=True, exist_ok=True)
    create = ["-c"] if not passwd_file.exists() else []
    # -b takes the password as an argument (visible to local `ps` for a moment): the only
    # non-interactive way mosquitto_passwd offers.
    argv = [str(binary), *create, "-b", str(passwd_file), user, password]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ConfigError(f"mosquitto_passwd failed: {(result.stderr or result.stdout).strip()}")


def delete_user(passwd_file: Path, user: str) -> None:
    """Remove ``user`` from ``passwd_file``; raises ``NotFoundError`` if it is not there."""
    if user not in passwd_users(passwd_file):
        raise NotFoundError(f"no user {user!r} in {passwd_file}")
    result = subprocess.run(
        [str(find_mosquitto_passwd()), "-D", str(passwd_file), user],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ConfigError(f"mosquitto_passwd failed: {(result.stderr or result.stdout).strip()}")


def this_machine() -> str:
    """Return this machine's short host name (how Tailscale MagicDNS names it by default)."""
    return socket.gethostname().split(".")[0]


def broker_url(user: str, password: str, host: str, port: int | None, tls: bool) -> str:
    """Return ``mqtt[s]://user:password@host:port`` with the credentials percent-encoded."""
    scheme = "mqtts" if tls else "mqtt"
    port = port or (8883 if tls else 1883)
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{shown}:{port}"


def add_user(
    name: str, role: Role, passwd_file: Path, acl_file: Path, password: str | None, force: bool
) -> str:
    """Create (or with ``force`` re-key) a broker user of ``role``; return its password.

    Checks first that ``name`` is a valid id (``[A-Za-z0-9_.-]{1,64}``, it becomes a topic
    level) and does not hold another role: a host named like an ACL user would inherit that
    user's rights. Appends the role's ACL block when the ACL lacks one. Raises ``ConfigError``.
    """
    if not is_valid_id(name):
        raise ConfigError(f"invalid name {name!r}: use [A-Za-z0-9_.-], at most 64 characters")
    if not acl_file.is_file():
        raise NotFoundError(f"ACL file {acl_file} not found (run from the repository directory)")
    roles = acl_roles(acl_file)
    current = roles.get(name, Role.HOST if name in passwd_users(passwd_file) else None)
    if name in roles and roles[name] is not role:
        raise ConfigError(f"{name!r} is a {roles[name].value} in {acl_file}; pick another name")
    if name in passwd_users(passwd_file):
        if current is not role:
            raise ConfigError(f"{name!r} already exists as a {current}; pick another name")
        if not force:
            raise ConfigError(f"{name!r} already exists; --force sets a new password")
    password = password or secrets.token_urlsafe(18)
    set_password(passwd_file, name, password)
    if name not in roles and role is not Role.HOST:
        with acl_file.open("a", encoding="utf-8") as out:
            out.write(acl_block(name, role))
    return password


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
