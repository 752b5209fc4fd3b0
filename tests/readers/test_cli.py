"""``sessionbeat sessions`` via typer's CliRunner against a real aggregator over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from typer.testing import CliRunner, Result

from sessionbeat.aggregator.service import AggregatorService
from sessionbeat.broker.embedded import LocalBroker, free_port
from sessionbeat.cli import app
from tests.aggregator.support import (
    T0,
    ManualClock,
    Publisher,
    ServedApi,
    beat,
    running,
    unique_host,
    wait_until,
)
from tests.conftest import short_tmpdir
from tests.readers.test_safe_text import unsafe_shown


@pytest.fixture
def served(
    broker: LocalBroker, clock: ManualClock
) -> Iterator[tuple[AggregatorService, ServedApi]]:
    with running(broker, short_tmpdir(), clock=clock, ended_linger=60) as pair:
        yield pair


@pytest.fixture
def host(served: tuple[AggregatorService, ServedApi], publisher: Publisher) -> str:
    """A host with an approval, a working and an ended session, all visible in the API."""
    _, api = served
    name = unique_host()
    publisher.beat(
        beat(
            name,
            "3f2a1b9c-approval",
            status="needs_approval",
            repo="api",
            tool="Bash",
            task="deploy",
        )
    )
    publisher.beat(
        beat(
            name,
            "77aa0000-working",
            repo="web",
            task="fix login",
            context_tokens=44000,
            context_window=200000,
        )
    )
    publisher.beat(beat(name, "99ee0000-ended", status="ended", repo="web", task="old work"))
    wait_until(
        lambda: (
            len(httpx.get(f"{api.url}/sessions", params={"host": name, "all": True}).json()) == 3
        )
    )
    return name


def cli(api: ServedApi, *args: str, columns: int = 200) -> Result:
    """Invoke the CLI against ``api`` in a terminal ``columns`` wide; service logs stay out."""
    argv = ["--api-url", api.url, "--log-level", "ERROR", *args]
    return CliRunner(env={"COLUMNS": str(columns)}).invoke(app, argv)


def test_list_json_is_exactly_get_sessions(
    served: tuple[AggregatorService, ServedApi], host: str
) -> None:
    """`sessions list --json` prints the same array GET /sessions returns for the same filters."""
    _, api = served
    for flags, params, count in (
        ([], {}, 2),
        (["--all"], {"all": "true"}, 3),
        (["--status", "ended"], {"status": "ended"}, 1),
        (["--repo", "web"], {"repo": "web"}, 1),
    ):
        result = cli(api, "sessions", "list", "--host", host, "--json", *flags)
        assert result.exit_code == 0, result.output
        expected = httpx.get(f"{api.url}/sessions", params={"host": host, **params}).json()
        assert json.loads(result.output) == expected
        assert len(expected) == count


def test_list_table_is_readable(
    served: tuple[AggregatorService, ServedApi], host: str, clock: ManualClock
) -> None:
    """The table shows host, repo, status icon and words, tool/task, context % and age."""
    _, api = served
    clock.advance(90)
    result = cli(api, "sessions", "list", "--host", host)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "HOST",
        "REPO",
        "ID",
        "STATUS",
        "TOOL",
        "·",
        "TASK",
        "CTX",
        "ACTIVE",
    ]
    approval = next(line for line in lines if "3f2a1b9c" in line)
    for part in (host, "api", "⚠ needs approval 1 min", "Bash · deploy", "1 min ago"):
        assert part in approval
    working = next(line for line in lines if "77aa0000" in line)
    for part in ("web", "● working", "fix login", "22%"):
        assert part in working
    assert "99ee0000" not in result.output  # ended: only with --all
    assert lines.index(approval) < lines.index(working)


def test_list_table_fits_an_80_column_terminal(
    served: tuple[AggregatorService, ServedApi], host: str, clock: ManualClock
) -> None:
    """In 80 columns no line is wider, and status, id, context and age stay whole on one line."""
    _, api = served
    clock.advance(90)
    result = cli(api, "sessions", "list", "--host", host, columns=80)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    approval = next(line for line in lines if "3f2a1b9c" in line)
    for part in ("⚠ needs approval 1 min", "1 min ago"):
        assert part in approval
    working = next(line for line in lines if "77aa0000" in line)
    for part in ("● working", "22%"):
        assert part in working


def test_list_all_adds_ended_and_history(
    served: tuple[AggregatorService, ServedApi], host: str, clock: ManualClock
) -> None:
    """--all shows ended live sessions and a second table with the reaped history."""
    _, api = served
    before = cli(api, "sessions", "list", "--host", host, "--all")
    assert "■ ended" in before.output
    assert "History (0 reaped)" in before.output
    clock.advance(61)
    wait_until(lambda: httpx.get(f"{api.url}/history", params={"host": host}).json()["total"])
    after = cli(api, "sessions", "list", "--host", host, "--all")
    assert after.exit_code == 0, after.output
    live, history = after.output.split("History (1 reaped)")
    assert "99ee0000" not in live
    row = next(line for line in history.splitlines() if "99ee0000" in line)
    for part in (host, "web", "■ ended", "ended", "old work"):
        assert part in row


def test_empty_list_says_so(served: tuple[AggregatorService, ServedApi]) -> None:
    """No sessions: one plain sentence with the --all hint."""
    _, api = served
    result = cli(api, "sessions", "list", "--host", unique_host())
    assert result.exit_code == 0
    assert result.output.startswith("No live sessions (--all also shows")


def test_show_by_prefix_with_timeline(
    served: tuple[AggregatorService, ServedApi], host: str
) -> None:
    """`sessions show` takes the short id the table shows and prints facts and timeline."""
    _, api = served
    result = cli(api, "sessions", "show", "77aa0000", "--host", host)
    assert result.exit_code == 0, result.output
    assert "77aa0000-working" in result.output
    assert "fix login" in result.output
    assert "AT (UTC)" in result.output and "● working" in result.output
    as_json = cli(api, "sessions", "show", "77aa0000-working", "--json")
    assert json.loads(as_json.output)["timeline"][0]["status"] == "working"


def test_show_says_why_the_status_and_how_to_reach_the_pane(
    served: tuple[AggregatorService, ServedApi], publisher: Publisher
) -> None:
    """An approval granted at the terminal: show names the registry, the hook, version, pane."""
    _, api = served
    name = unique_host()
    publisher.beat(
        beat(
            name,
            "5e55f00d-approved",
            event="PermissionRequest",
            last_activity_at=T0 + timedelta(milliseconds=551),
            status_source="registry",
            status_at=T0 + timedelta(seconds=4, milliseconds=315),
            registry_status="busy",
            registry_status_at=T0 + timedelta(seconds=4, milliseconds=315),
            claude_version="2.1.328",
            entrypoint="cli",
            tmux="main:@0.%0",
        )
    )
    wait_until(lambda: httpx.get(f"{api.url}/sessions", params={"host": name}).json())
    result = cli(api, "sessions", "show", "5e55f00d", "--host", name)
    assert result.exit_code == 0, result.output
    lines = {line.split("  ", 1)[0]: line for line in result.output.splitlines()}
    assert lines["status from"].split()[2:] == [
        "registry",
        "busy",
        "at",
        "12:00:04.315",
        "(last",
        "hook:",
        "PermissionRequest",
        "at",
        "12:00:00.551)",
    ]
    assert lines["claude code"].split()[2:] == ["2.1.328", "·", "cli"]
    assert lines["tmux"].split()[1:] == ["tmux", "attach", "-t", "main:@0.%0"]
    assert "registry busy" in result.output  # the timeline names what decided


def test_a_headless_run_is_shown_as_such(
    served: tuple[AggregatorService, ServedApi], publisher: Publisher
) -> None:
    """A `claude -p` run (entrypoint sdk-cli) reads headless in show and in the JSON."""
    _, api = served
    name = unique_host()
    publisher.beat(beat(name, "0e0e0e0e-print", claude_version="2.1.328", entrypoint="sdk-cli"))
    wait_until(lambda: httpx.get(f"{api.url}/sessions", params={"host": name}).json())
    result = cli(api, "sessions", "show", "0e0e0e0e", "--host", name)
    assert "2.1.328 · headless (sdk-cli)" in result.output
    as_json = json.loads(cli(api, "sessions", "show", "0e0e0e0e-print", "--json").output)
    assert as_json["headless"] is True


def test_show_reaped_session_from_history(
    served: tuple[AggregatorService, ServedApi], host: str, clock: ManualClock
) -> None:
    """A reaped session is shown from the history, marked as such."""
    _, api = served
    clock.advance(61)
    wait_until(lambda: httpx.get(f"{api.url}/history", params={"host": host}).json()["total"])
    result = cli(api, "sessions", "show", "99ee0000", "--host", host)
    assert result.exit_code == 0, result.output
    assert "Reaped session" in result.output
    assert "old work" in result.output


def test_export_markdown_to_file_and_history_json(
    served: tuple[AggregatorService, ServedApi], host: str, clock: ManualClock
) -> None:
    """`sessions export` writes one session's Markdown report, or the history as JSON."""
    _, api = served
    out = short_tmpdir() / "report.md"
    result = cli(api, "sessions", "export", "3f2a1b9c", "--format", "md", "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith("# Claude Code session 3f2a1b9c-approval")
    assert "| tool | Bash |" in text
    clock.advance(61)
    wait_until(lambda: httpx.get(f"{api.url}/history", params={"host": host}).json()["total"])
    history = cli(api, "sessions", "export", "--host", host, "--since", "2025-06-01T12:00:00")
    assert [e["session_id"] for e in json.loads(history.output)] == ["99ee0000-ended"]


def test_unreachable_api_is_one_line_and_exit_code() -> None:
    """No aggregator: a single error line naming the URL, exit code 4 (README: API unreachable)."""
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(app, ["--api-url", url, "sessions", "list"])
    assert result.exit_code == 4  # README.md: 4 API unreachable
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith(f"sessionbeat: cannot reach the aggregator at {url}")


def test_unknown_session_exit_code(served: tuple[AggregatorService, ServedApi]) -> None:
    """An id that is neither live nor reaped exits 3 (README: not found)."""
    _, api = served
    result = cli(api, "sessions", "show", "does-not-exist")
    assert result.exit_code == 3  # README.md: 3 not found
    assert "does-not-exist" in result.output


def test_bad_since_is_a_config_error(served: tuple[AggregatorService, ServedApi]) -> None:
    """An unreadable --since is a clear error (exit 2), before any request."""
    _, api = served
    result = cli(api, "sessions", "export", "--since", "last tuesday")
    assert result.exit_code == 2
    assert "30m, 12h, 7d" in result.output


def test_list_all_with_unavailable_history(broker: LocalBroker, publisher: Publisher) -> None:
    """A history that cannot be read (503) still lists live sessions, with a note."""
    tmp = short_tmpdir()
    (tmp / "file").write_text("x")
    with running(broker, tmp, history_db=tmp / "file" / "h.sqlite3") as (_service, api):
        host = unique_host()
        publisher.beat(beat(host, "abcdef12-live"))
        wait_until(lambda: httpx.get(f"{api.url}/sessions", params={"host": host}).json())
        result = cli(api, "sessions", "list", "--all", "--host", host)
    assert result.exit_code == 0, result.output
    assert "abcdef12" in result.output
    assert "History unavailable:" in result.output and "503" in result.output


HOSTILE = "\x1b]0;pwned\x07\x1b[2J\r\x9b31m\u202eexe.txt\u2066"
"""Escape sequences (a window title, a screen clear), CR, an 8-bit CSI and bidi controls."""


def test_hostile_text_never_reaches_the_terminal(
    served: tuple[AggregatorService, ServedApi], publisher: Publisher
) -> None:
    """A cwd, repo, task or tool carrying escape sequences or bidi controls prints inertly."""
    _, api = served
    name = unique_host()
    publisher.beat(
        beat(
            name,
            "0bad0000-hostile",
            status="needs_approval",
            cwd=f"/home/kai/{HOSTILE}",
            repo=f"repo{HOSTILE}",
            branch=f"main{HOSTILE}",
            task=f"deploy{HOSTILE} [bold]not markup[/bold]",
            tool=f"Bash{HOSTILE}",
            detail=f"rm{HOSTILE}",
            model=f"m{HOSTILE}",
            tmux=f"main:@0.%0{HOSTILE}",
            event=f"PreToolUse{HOSTILE}",
        )
    )
    wait_until(lambda: httpx.get(f"{api.url}/sessions", params={"host": name}).json())
    outputs = {
        "list": cli(api, "sessions", "list", "--host", name),
        "show": cli(api, "sessions", "show", "0bad0000", "--host", name),
        "list --json": cli(api, "sessions", "list", "--host", name, "--json"),
        "show --json": cli(api, "sessions", "show", "0bad0000", "--host", name, "--json"),
    }
    for command, result in outputs.items():
        assert result.exit_code == 0, (command, result.output)
        assert unsafe_shown(result.output) == [], command
    show = outputs["show"].output
    assert "/home/kai/]0;pwned[2J 31mexe.txt" in show  # the printable rest is still shown
    assert "[bold]not markup[/bold]" in show  # literally: values are never rich markup
    as_json = json.loads(outputs["show --json"].output)
    assert as_json["cwd"] == f"/home/kai/{HOSTILE}"  # --json keeps the data, escaped


def test_list_marks_sessions_on_one_branch_even_on_hidden_hosts(
    served: tuple[AggregatorService, ServedApi], publisher: Publisher
) -> None:
    """Two hosts on web@main: listing one host still says "(2 on main)" after the repo."""
    _, api = served
    mac, server = unique_host(), unique_host()
    publisher.beat(beat(mac, "aa000000-mac", repo="web", branch="main", task="edit"))
    publisher.beat(beat(server, "bb000000-server", repo="web", branch="main", task="edit"))
    publisher.beat(beat(server, "cc000000-other", repo="web", branch="fix", task="edit"))
    wait_until(lambda: len(httpx.get(f"{api.url}/sessions", params={"repo": "web"}).json()) >= 3)
    result = cli(api, "sessions", "list", "--host", server)
    assert result.exit_code == 0, result.output
    (shared,) = [line for line in result.output.splitlines() if "bb000000" in line]
    (alone,) = [line for line in result.output.splitlines() if "cc000000" in line]
    assert "web (2 on main)" in shared
    assert " on " not in alone


def test_list_limit_shows_the_first_sessions_and_how_many_match(
    served: tuple[AggregatorService, ServedApi], host: str
) -> None:
    """`sessions list --limit 1` shows the approval only and says "1 of 2 shown"."""
    _, api = served
    result = cli(api, "sessions", "list", "--host", host, "--limit", "1")
    assert result.exit_code == 0, result.output
    assert "3f2a1b9c" in result.output
    assert "77aa0000" not in result.output
    assert "1 of 2 shown (--limit)." in result.output
    everything = cli(api, "sessions", "list", "--host", host, "--limit", "5")
    assert "77aa0000" in everything.output and "shown (--limit)" not in everything.output
    as_json = cli(api, "sessions", "list", "--host", host, "--all", "--json", "--limit", "2")
    expected = httpx.get(f"{api.url}/sessions", params={"host": host, "all": "true"}).json()
    assert json.loads(as_json.output) == expected[:2]


def test_list_limit_still_counts_branch_mates_on_every_host(
    served: tuple[AggregatorService, ServedApi], publisher: Publisher
) -> None:
    """With --limit the "(2 on main)" badge counts the repo's sessions beyond the limit too."""
    _, api = served
    mac, server = unique_host(), unique_host()
    shop = unique_host("s")  # a repo name no other test's retained sessions use
    publisher.beat(beat(mac, "dd000000-mac", repo=shop, branch="main", task="edit"))
    publisher.beat(beat(server, "ee000000-server", repo=shop, branch="main", task="edit"))
    wait_until(lambda: len(httpx.get(f"{api.url}/sessions", params={"repo": shop}).json()) == 2)
    result = cli(api, "sessions", "list", "--repo", shop, "--limit", "1")
    assert result.exit_code == 0, result.output
    (line,) = [x for x in result.output.splitlines() if "000000" in x]
    assert "(2 on" in line  # the repo cell may cut the branch name
