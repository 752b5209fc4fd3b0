"""sessionbeat's named errors: one tree in errors.py, each with its exit code and HTTP status."""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

from sessionbeat import errors
from sessionbeat.aggregator.api import http_status_for
from sessionbeat.cli_support import exit_code_for

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "sessionbeat"


def _exception_classes_outside_errors() -> set[str]:
    """Return the classes under src/sessionbeat, errors.py aside, that derive from an error."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {b.id if isinstance(b, ast.Name) else ast.unparse(b) for b in node.bases}
                if any(
                    (
                        isinstance(getattr(builtins, b, None), type)
                        and issubclass(getattr(builtins, b), BaseException)
                    )
                    or b.endswith(("Error", "Exception"))
                    for b in bases
                ):
                    found.add(node.name)
    return found


def test_exceptions_are_defined_only_in_errors() -> None:
    """A new exception class anywhere but errors.py fails here: the tree stays in one place."""
    assert _exception_classes_outside_errors() == set()


def test_every_error_in_errors_is_a_sessionbeat_error() -> None:
    """Catching SessionbeatError catches every error sessionbeat raises on purpose."""
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, Exception)]
    assert len(classes) >= 10
    assert all(issubclass(c, errors.SessionbeatError) for c in classes)


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (errors.UnauthorizedError, 4, 500),
        (errors.ApiUnavailableError, 4, 500),
        (errors.HistoryUnavailableError, 1, 503),
        (errors.NotFoundError, 3, 404),
        (errors.AgentAlreadyRunningError, 1, 500),
        (errors.FrameError, 1, 500),
    ],
)
def test_named_errors_keep_their_exit_code_and_http_status(
    error: type[errors.SessionbeatError], code: int, status: int
) -> None:
    """A missing API token exits 4 like a down API; a broken history is a 503 at the API."""
    exc = error("x")
    assert exit_code_for(exc) == code
    assert http_status_for(exc) == status


def test_moved_errors_keep_their_builtin_bases() -> None:
    """Code that catches RuntimeError or ValueError around the agent or a frame still works."""
    assert issubclass(errors.AgentAlreadyRunningError, RuntimeError)
    assert issubclass(errors.FrameError, ValueError)
