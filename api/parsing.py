"""Reading what clients send: chat requests, job requests, resume positions (bodies: ``bodies``).

Everything a client sends is validated here, at the edge, and refused with a
400 (or 413, 415) that names what is wrong; nothing past this module sees raw input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

from starlette.requests import Request

import capture

from .app_config import REASONING_FIELDS, AppConfig, ReasoningField
from .bodies import read_json_object
from .catalogue import DEFAULT_MODEL, JobFactory, Model, find_model
from .errors import APIError

__all__ = ("JOB_ID", "ChatRequest", "Resume", "last_event_id", "parse_chat", "parse_job", "parse_subject")


def _message_text(content: Any, index: int) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    param = f"messages[{index}].content"
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts: list[str] = []
        for part in content:
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise APIError(400, f"Each part of '{param}' must be an object with a 'type'.", param=param)
            if part["type"] == "text":
                if not isinstance(part.get("text"), str):
                    raise APIError(400, f"A text part of '{param}' must have a string 'text'.", param=param)
                texts.append(part["text"])
        return "\n".join(texts)
    raise APIError(400, f"'{param}' must be a string or a list of content parts.", param=param)


def _prepare(model: Model, text: str, param: str) -> JobFactory:
    try:
        # Portable: a worker process (JOB_WORKERS=remote) builds the same job from its model and input.
        return capture.PortableJob(model.prepare(text), capture.JobSpec(model.id, text))
    except APIError as exc:
        exc.param = param
        raise


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: Model
    text: str
    job: JobFactory
    stream: bool
    include_usage: bool
    reasoning_field: ReasoningField = "reasoning_content"


# The roles of OpenAI's chat API: only the last user message is the job's input; the others are accepted.
_ROLES = ("system", "developer", "user", "assistant", "tool", "function")


async def parse_chat(request: Request, config: AppConfig, models: dict[str, Model]) -> ChatRequest:
    """``POST /v1/chat/completions``: the last user message is the job's input."""
    payload = await read_json_object(request, config.requests)
    model = find_model(models, payload.get("model"), "model")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise APIError(400, "'messages' must be a non-empty list of messages.", param="messages")
    if len(messages) > config.requests.max_messages:
        raise APIError(400, f"Too many messages: at most {config.requests.max_messages}.", param="messages")
    text: str | None = None
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise APIError(400, f"'messages[{index}]' must be an object with a 'role'.", param=f"messages[{index}]")
        if message["role"] not in _ROLES:  # a typo would otherwise be skipped, and its text ignored
            raise APIError(
                400,
                f"'messages[{index}].role' must be one of {', '.join(map(repr, _ROLES))}.",
                param=f"messages[{index}].role",
            )
        if message["role"] == "user":
            text = _message_text(message.get("content"), index)
    if text is None:
        raise APIError(400, "There is no user message: the last one is the input.", param="messages")
    if len(text) > config.requests.max_input_chars:
        raise APIError(
            400,
            f"The last user message is {len(text)} characters long; the limit is {config.requests.max_input_chars}.",
            param="messages",
            code="input_too_long",
        )
    if payload.get("n") not in (None, 1):
        raise APIError(400, "Only one choice per request is supported: 'n' must be 1.", param="n")
    stream = payload.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise APIError(400, "'stream' must be a boolean.", param="stream")
    options = payload.get("stream_options")
    include_usage = False
    if options is not None:
        if not isinstance(options, dict):
            raise APIError(400, "'stream_options' must be an object.", param="stream_options")
        include_usage = options.get("include_usage", False)
        if not isinstance(include_usage, bool):
            raise APIError(400, "'stream_options.include_usage' must be a boolean.", param="stream_options")
    # Not an OpenAI parameter: the openai SDK sends it with extra_body={"reasoning_field": …}.
    reasoning_field = payload.get("reasoning_field")
    if reasoning_field is None:
        reasoning_field = config.streaming.reasoning_field
    elif reasoning_field not in REASONING_FIELDS:
        raise APIError(
            400,
            f"'reasoning_field' must be one of {', '.join(map(repr, REASONING_FIELDS))}.",
            param="reasoning_field",
        )
    return ChatRequest(
        model, text, _prepare(model, text, "messages"), stream, include_usage, cast(ReasoningField, reasoning_field)
    )


@dataclass(frozen=True, slots=True)
class JobRequest:
    model: Model
    job: JobFactory


async def parse_job(request: Request, config: AppConfig, models: dict[str, Model]) -> JobRequest:
    """``POST /v1/jobs  {"model": …, "input": …}``."""
    payload = await read_json_object(request, config.requests)
    model = find_model(models, payload.get("model", DEFAULT_MODEL), "model")
    text = payload.get("input")
    if not isinstance(text, str):
        raise APIError(400, "'input' must be a string (the subject, or the ticker's JSON).", param="input")
    if len(text) > config.requests.max_input_chars:
        what = "The subject" if model.id.startswith("course-generator") else "'input'"  # as the page asks it
        raise APIError(400, f"{what} is longer than {config.requests.max_input_chars} characters.", param="input")
    return JobRequest(model, _prepare(model, text, "input"))


def parse_subject(request: Request, config: AppConfig, models: dict[str, Model]) -> JobRequest:
    """``GET /v1/courses/stream?subject=…&model=…``."""
    model = find_model(models, request.query_params.get("model", DEFAULT_MODEL), "model")
    subject = request.query_params.get("subject", "")
    limit = config.requests.max_input_chars
    if len(subject) > limit:
        raise APIError(400, f"The subject is longer than {limit} characters.", param="subject")
    return JobRequest(model, _prepare(model, subject, "subject"))


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a reconnecting client is: it has every event up to ``seq``, except, when
    ``html_pending``, the ``html`` companion of the ``content`` event ``seq``."""

    job_id: str
    seq: int
    html_pending: bool = False

    @property
    def after(self) -> int:
        """Read the job's events after this sequence number (again from ``seq`` when its html is missing)."""
        return self.seq - 1 if self.html_pending else self.seq


# ``<job>:<seq>`` for every event, ``<job>:<seq>.md`` for a ``content`` event, whose ``html``
# companion then carries ``<job>:<seq>``: every event its own id, and a client that drops
# between the two gets the html when it resumes.
JOB_ID = re.compile(r"job_[0-9a-f]{1,64}")
_EVENT_ID = re.compile(r"(job_[0-9a-f]{1,64}):(\d{1,12})(\.md)?")


def last_event_id(request: Request) -> Resume | None:
    """Where a reconnecting client is: ``Last-Event-ID``, or the ``last_event_id`` query
    parameter for clients that cannot set headers."""
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    if not raw:
        return None
    match = _EVENT_ID.fullmatch(raw.strip())
    if match is None or (match.group(3) is not None and int(match.group(2)) < 1):  # no content event is 0
        shown = raw.strip()[:80]
        raise APIError(
            400, f"Last-Event-ID must be an event id this server sent (like 'job_3f9a…:12'), not '{shown}'.",
            param="Last-Event-ID",
        )
    return Resume(match.group(1), int(match.group(2)), html_pending=match.group(3) is not None)
