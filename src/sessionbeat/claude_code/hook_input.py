"""The JSON Claude Code writes to a hook's stdin, parsed leniently.

Source: https://code.claude.com/docs/en/hooks ("Hook input") and docs/claude-code-formats.md;
real payloads in ``src/sessionbeat/stack/recordings`` and ``tests/fixtures/claude-code``. Fields
come and go between Claude Code versions, so only ``session_id`` is required.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)


class HookInput(BaseModel):
    """The JSON Claude Code passes on a hook's stdin, parsed leniently.

    Source: https://code.claude.com/docs/en/hooks ("Hook input"), and real payloads in
    ``src/sessionbeat/stack/recordings``. Only ``session_id`` is required; every other field is
    optional and a field with an unexpected type becomes ``None`` instead of failing the whole
    payload. Unknown fields are kept.
    """

    model_config = ConfigDict(extra="allow")

    session_id: str
    hook_event_name: str | None = None
    transcript_path: str | None = None
    cwd: str | None = None
    permission_mode: str | None = None
    prompt_id: str | None = None
    source: str | None = None
    model: str | None = None
    session_title: str | None = None
    reason: str | None = None
    tool_name: str | None = None
    tool_input: Any = None
    tool_response: Any = None
    tool_use_id: str | None = None
    notification_type: str | None = None
    message: str | None = None
    agent_id: str | None = None
    agent_type: str | None = None
    agent_transcript_path: str | None = None
    task_id: str | None = None
    task_subject: str | None = None
    error: Any = None
    trigger: str | None = None
    old_cwd: str | None = None
    new_cwd: str | None = None
    background_tasks: Any = None

    @field_validator("*", mode="wrap")
    @classmethod
    def _lenient(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: Any) -> Any:
        """Replace a value of the wrong type by ``None`` (except the required ``session_id``)."""
        try:
            return handler(value)
        except ValidationError:
            if info.field_name == "session_id":
                raise
            return None
