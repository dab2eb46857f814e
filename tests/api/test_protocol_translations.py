"""A job's log as Responses API events and as UI message chunks: the same log, the same answer.

The events are validated with the ``openai`` SDK's own types, as a client would read them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

import capture
from api.response_events import ResponseEvents, job_id_of, response_id_of
from api.ui_stream import UIParts

JOB = "job_0123456789abcdef"
EVENTS = TypeAdapter(ResponseStreamEvent)


def info() -> capture.JobInfo:
    return capture.JobInfo(id=JOB, model="ticker", status="running", created=time.time(), finished=None,
                           last_seq=0, answer="")


def log(*events: capture.Event) -> list[capture.Entry]:
    return [capture.Entry(seq, event) for seq, event in enumerate(events, 1)]


COURSE = log(capture.Progress("one\n"), capture.Progress("two\n"), capture.Content("# Title\n"),
             capture.Progress("late\n"), capture.Content("body\n"), capture.Complete({"markdown": "# Title\nbody\n"}))


def responses(entries: Sequence[capture.Entry | capture.Gap]) -> list[dict[str, object]]:
    translator = ResponseEvents(info(), background=True)
    numbered = translator.opening(queued=False)
    for entry in entries:
        numbered += translator.feed(entry)
    return [event.body for event in numbered]


def test_every_event_is_an_sdk_type_numbered_without_gaps() -> None:
    bodies = responses(list(COURSE))
    parsed = [EVENTS.validate_python(body) for body in bodies]
    assert [event.sequence_number for event in parsed] == list(range(len(parsed)))
    types = [event.type for event in parsed]
    assert types == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta",  # "late" is not sent: printed after the answer began
        "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed",
    ]
    completed = parsed[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == "# Title\nbody\n" and completed.response.status == "completed"


def test_a_trimmed_log_is_numbered_as_the_whole_one_was() -> None:
    whole = responses(list(COURSE))
    trimmed = responses([capture.Gap(1, 2), *COURSE[2:]])
    tail = [body for body in whole if body["type"] != "response.reasoning_summary_text.delta"]
    assert [body["sequence_number"] for body in trimmed] == [body["sequence_number"] for body in tail]


@pytest.mark.parametrize(
    ("kind", "event_type", "status", "code"),
    [
        ("job_error", "response.failed", "failed", "server_error"),
        ("overloaded", "response.failed", "failed", "rate_limit_exceeded"),
        ("timeout", "response.failed", "failed", "server_error"),
        ("cancelled", "response.incomplete", "cancelled", None),
    ],
)
def test_how_a_job_ends_is_how_the_response_ends(kind: str, event_type: str, status: str, code: str | None) -> None:
    last = EVENTS.validate_python(responses(log(capture.Progress("one\n"), capture.Error("It broke.", kind)))[-1])
    assert last.type == event_type
    assert last.type in ("response.failed", "response.incomplete")
    assert last.response.status == status
    if code is None:
        assert last.response.error is None
    else:
        assert last.response.error is not None
        assert last.response.error.code == code and last.response.error.message == "It broke."


def test_response_ids_are_job_ids() -> None:
    assert job_id_of(response_id_of(JOB)) == JOB
    assert job_id_of("job_0123") is None and job_id_of("resp_../x") is None and job_id_of("resp_") is None


def ui(entries: list[capture.Entry]) -> list[dict[str, object]]:
    parts = UIParts(JOB)
    chunks = parts.opening()
    for entry in entries:
        chunks += parts.feed(entry)
    return chunks


def test_ui_chunks_reasoning_then_text_then_finish() -> None:
    chunks = ui(COURSE)
    assert [chunk["type"] for chunk in chunks] == [
        "start", "reasoning-start", "reasoning-delta", "reasoning-delta", "reasoning-end",
        "text-start", "text-delta", "text-delta", "text-end", "finish",
    ]
    assert "".join(str(c["delta"]) for c in chunks if c["type"] == "text-delta") == "# Title\nbody\n"


def test_a_failure_closes_the_open_part_then_is_an_error_part() -> None:
    chunks = ui(log(capture.Progress("one\n"), capture.Error("It broke.", "job_error")))
    assert chunks[-2:] == [{"type": "reasoning-end", "id": "reasoning_0123456789abcdef"},
                           {"type": "error", "errorText": "It broke."}]
