"""One place per fact: every session field flows from the host's session to the API unchanged.

The fields are those of :class:`~sessionbeat.models.SessionFields`. Each test gives every field a
value of its type that differs from its default, so a field that ``to_beat``, the wire,
``session_view`` or ``history_entry`` dropped would show up as its default and fail. A field
added to ``SessionFields`` (and held by ``LocalSession`` under the same name) is covered
without touching these tests.
"""

from __future__ import annotations

import enum
import types
import typing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sessionbeat import topics
from sessionbeat.aggregator import views
from sessionbeat.aggregator.state import AggregatorState, Message, Outcome, apply
from sessionbeat.models import (
    SESSION_FIELDS,
    HistoryEntry,
    PublishedStatus,
    SessionBeat,
    SessionFields,
    SessionView,
    StatusSource,
)
from sessionbeat.publisher.beat import to_beat
from sessionbeat.publisher.session import LocalSession

T0 = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)

DECIDED = {
    "registry_status": "waiting",
    "registry_waiting_for": "permission prompt",
    "title": "the session title",
    "running_agents": ["agent-1", "agent-2"],
    "saw_subagent_start": True,
}
"""What the session fields ``LocalSession`` computes (properties) are derived from: the
registry's ``waiting`` (newer than any hook) decides needs_approval, so ``status_source`` is
``registry``, ``status_at`` its time and ``waiting_for`` its ``waitingFor``, and the tool is
published; ``task`` is the title; ``subagents`` counts the running agents."""


def _types(annotation: Any) -> list[Any]:
    """Return the plain types of a field annotation: union members, ``Annotated`` unwrapped."""
    members = (
        typing.get_args(annotation)
        if typing.get_origin(annotation) in (typing.Union, types.UnionType)
        else (annotation,)
    )
    out = []
    for member in members:
        while typing.get_origin(member) is typing.Annotated:
            member = typing.get_args(member)[0]
        out.append(member)
    return out


def sample(name: str, index: int) -> Any:
    """Return a value of session field ``name``'s type, distinct per ``index``, not its default."""
    kinds = _types(SessionFields.model_fields[name].annotation)
    if datetime in kinds:
        return T0 + timedelta(seconds=100 + index)
    if bool in kinds:
        return True
    if int in kinds:
        return 1000 + index
    enums = [k for k in kinds if isinstance(k, type) and issubclass(k, enum.Enum)]
    if enums:
        return list(enums[0])[-1]
    assert str in kinds, f"no sample value for session field {name}: {kinds}"
    return f"{name.replace('_', '-')}-{index}"


def local_session() -> LocalSession:
    """Return a host's session whose every session field has a non-default value."""
    stored = {
        name: sample(name, i)
        for i, name in enumerate(SESSION_FIELDS)
        if name in LocalSession.model_fields
    }
    stored.update(last_event_at=T0, seq=7, **DECIDED)
    session = LocalSession.model_validate(stored)
    missing = [name for name in SESSION_FIELDS if not hasattr(session, name)]
    assert not missing, f"LocalSession must hold these session fields (or properties): {missing}"
    return session


def values(source: object) -> dict[str, Any]:
    """Return every session field of ``source`` by name."""
    return {name: getattr(source, name) for name in SESSION_FIELDS}


@pytest.fixture
def session() -> LocalSession:
    """A host's session with a non-default value in every session field."""
    s = local_session()
    defaults = {name: f.default for name, f in SessionFields.model_fields.items()}
    same = [name for name, value in values(s).items() if value == defaults[name]]
    assert not same, f"these fields keep their default, so a test could not see them: {same}"
    assert s.verdict().source is StatusSource.REGISTRY
    return s


@pytest.fixture
def beat(session: LocalSession) -> SessionBeat:
    """The beat the agent publishes for that session."""
    return to_beat(session, T0 + timedelta(seconds=500))


def test_every_session_field_is_published_as_the_host_holds_it(
    session: LocalSession, beat: SessionBeat
) -> None:
    """What the host knows of a session (every field) is what its beat carries."""
    assert beat.status is PublishedStatus.NEEDS_APPROVAL
    assert values(beat) == values(session)


def test_every_session_field_reaches_the_api_as_published(beat: SessionBeat) -> None:
    """Each field of a beat, through the wire, shows in the API view and the session detail."""
    state = AggregatorState()
    now = beat.sent_at + timedelta(seconds=1)
    topic = topics.session_topic(beat.host, beat.session_id)
    payload = beat.model_dump_json(exclude_none=True).encode()
    assert apply(state, Message(topic, payload), now).outcome is Outcome.ACCEPTED
    record = state.sessions[(beat.host, beat.session_id)]
    view = views.session_view(record, None, now, state)
    assert values(view) == values(beat)
    assert values(views.session_detail(record, None, now, state)) == values(beat)
    assert SessionView.model_validate_json(view.model_dump_json()) == view  # what readers get


def test_the_history_keeps_the_session_fields_it_declares(beat: SessionBeat) -> None:
    """A reaped session's history row has the beat's value for each field it keeps."""
    state = AggregatorState()
    now = beat.sent_at + timedelta(seconds=1)
    apply(
        state,
        Message(topics.session_topic(beat.host, beat.session_id), beat.model_dump_json().encode()),
        now,
    )
    record = state.sessions[(beat.host, beat.session_id)]
    entry = views.history_entry(record, None, now, state, "ended")
    kept = [name for name in SESSION_FIELDS if name in HistoryEntry.model_fields]
    assert len(kept) >= 10
    assert {n: getattr(entry, n) for n in kept} == {n: getattr(beat, n) for n in kept}
    assert (entry.reap_reason, entry.reaped_at) == ("ended", now)
