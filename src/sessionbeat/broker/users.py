"""The production broker's users: Mosquitto's password file and ACL, by role.

Three roles (docs/architecture.md "Security model", ``mosquitto/acl``):

* a **host** (user name = its host id) may read and write only ``sessionbeat/v1/<host>/#``,
  by the ACL's ``pattern readwrite sessionbeat/v1/%u/#``; nothing is added to the ACL;
* the **aggregator** reads everything and may clear retained topics (``topic readwrite
  sessionbeat/v1/#``), claim the reaper lease (``topic readwrite sessionbeat/aggregators/#``)
  and read the sites' bridge notifications and send clears back to a site broker (``topic
  readwrite sessionbeat/sites/#``);
* a **viewer** may only read (``topic read sessionbeat/v1/#``, plus a ``deny`` of the subtree
  the host pattern would give its name).

Passwords are hashed by Mosquitto's own ``mosquitto_passwd`` (PBKDF2-SHA512) into the password
file; aggregator and viewer names get a ``user`` block appended to the ACL file when missing.
Mosquitto reads both at start and on SIGHUP. Defaults are the repository's ``mosquitto/passwd``
and ``mosquitto/acl``, the files compose.yaml mounts (run from the repository directory).

The password file is kept at mode :data:`PASSWD_MODE` (0640: no other user of the server reads
the hashes). ``mosquitto_passwd`` rewrites it in place, so a group given to it once (the
container's Mosquitto group, :data:`MOSQUITTO_GID`) stays.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
from enum import StrEnum
from pathlib import Path
from urllib.parse import quote

from sessionbeat.errors import ConfigError, NotFoundError
from sessionbeat.topics import AGGREGATORS_ROOT, ROOT, SITES_ROOT, is_valid_id

DEFAULT_PASSWD = Path("mosquitto/passwd")


DEFAULT_ACL = Path("mosquitto/acl")

PASSWD_MODE = 0o640
"""Mode of the password file: owner read/write, group read, others nothing."""

MOSQUITTO_GID = 1883
"""Group id of the ``mosquitto`` user in the eclipse-mosquitto image (its Dockerfile)."""


PASSWD_HINT = (
    "mosquitto_passwd is not installed. Debian/Ubuntu: sudo apt-get install -y mosquitto; "
    "macOS: brew install mosquitto"
)


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
        return (
            f"\nuser {name}\ntopic readwrite {ROOT}/#\ntopic readwrite {AGGREGATORS_ROOT}/#\n"
            f"topic readwrite {SITES_ROOT}/#\n"
        )
    return (
        f"\nuser {name}\ntopic read {ROOT}/#\ntopic deny {ROOT}/{name}/#\n"
        f"topic read {SITES_ROOT}/#\n"
    )


def set_password(passwd_file: Path, user: str, password: str) -> None:
    """Add or update ``user`` in ``passwd_file`` (created when missing) with mosquitto_passwd.

    Raises ``NotFoundError`` without ``mosquitto_passwd``, ``ConfigError`` if it fails.
    """
    binary = find_mosquitto_passwd()
    passwd_file.parent.mkdir(parents=True, exist_ok=True)
    if not passwd_file.exists():
        # Created empty at 0640 first: `mosquitto_passwd -c` would create it world-readable.
        os.close(os.open(passwd_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PASSWD_MODE))
    passwd_file.chmod(PASSWD_MODE)
    # -b takes the password as an argument (visible to local `ps` for a moment): the only
    # non-interactive way mosquitto_passwd offers.
    argv = [str(binary), "-b", str(passwd_file), user, password]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ConfigError(f"mosquitto_passwd failed: {(result.stderr or result.stdout).strip()}")
    passwd_file.chmod(PASSWD_MODE)


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
    passwd_file.chmod(PASSWD_MODE)


def group_hint(path: Path) -> str | None:
    """Return how to let the container's Mosquitto read ``path``, or None if it already can.

    With mode 0640 only the file's group may read it besides its owner; Mosquitto in the
    eclipse-mosquitto container runs as uid and gid :data:`MOSQUITTO_GID` and reads the
    password file again on SIGHUP, after dropping root.
    """
    try:
        gid = path.stat().st_gid
    except OSError:
        return None
    if gid == MOSQUITTO_GID:
        return None
    return f"the container's Mosquitto reads {path} as group {MOSQUITTO_GID}: " + (
        f"sudo chgrp {MOSQUITTO_GID} {path}"
    )


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
