"""A job's events as the OpenAI Responses API's stream events, numbered from the job's log alone.

``ResponseEvents`` is a pure translator: fed a job's entries from its first, it gives the
same events with the same ``sequence_number`` on every process, so that a client that
resumes with ``starting_after=N`` on another server (the same registry, memory or Redis)
gets exactly the events after ``N``. Nothing here depends on who reads, or when.

The shape, as the ``openai`` SDK's types (``openai/types/responses``) require. Printed lines
are the reasoning item's *summary* (``reasoning_summary_text``), not its ``reasoning_text``
content: clients show summaries (OpenAI's own models stream nothing else; Codex CLI shows raw
reasoning content only when asked to), so the summary is what reaches a user's screen.

- ``response.created`` (0) and ``response.in_progress`` (1);
- a reasoning item (``output_index`` 0, one summary part, ``summary_index`` 0) opened at
  once (2, 3), whose ``response.reasoning_summary_text.delta`` events carry what the job
  prints: one delta per printed entry, so that a log whose oldest entries were trimmed is
  still numbered as it was (the lost entries were printed lines: they come first);
- at the first piece of the answer: the reasoning item's ``.done`` events, then a message
  item (``output_index`` 1, one ``output_text`` part) and ``response.output_text.delta``
  events; lines printed after the answer began are not sent (chat clients would show
  them as a second thinking box), as on ``/v1/chat/completions``;
- the ``.done`` events of the open item, then ``response.completed``, ``response.failed``
  (``error`` in OpenAI's shape; ``JOB_TIMEOUT`` too) or ``response.incomplete`` (cancelled,
  or left with no reader: status ``cancelled``). No ``[DONE]``: the Responses API does not send one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import capture

__all__ = ("ResponseEvents", "job_id_of", "response_id_of")

# How a job that did not complete ends on this face: stopped on request (or with nobody left
# to read it), "response.incomplete" with status "cancelled": what was written so far is
# good but partial; anything else (JOB_TIMEOUT included: OpenAI's incomplete_details.reason
# names only token and message budgets) "response.failed" with the reason in error.message.
_CANCELLED_KINDS = frozenset({"cancelled", "abandoned"})
# ``error.code`` takes OpenAI's own values (the SDK's ResponseError); the job's kind is in the message.
_ERROR_CODES = {"overloaded": "rate_limit_exceeded"}


def response_id_of(job_id: str) -> str:
    """A response is its job: ``job_3f9a…`` answers as ``resp_3f9a…``."""
    return "resp_" + job_id.removeprefix("job_")


def job_id_of(response_id: str) -> str | None:
    """The job behind a response id, or None for an id this server never gave."""
    if not response_id.startswith("resp_") or not response_id[5:].isalnum():
        return None
    return "job_" + response_id[5:]


@dataclass(frozen=True, slots=True)
class Numbered:
    """One Responses stream event: its ``type`` and its JSON body (with ``sequence_number``)."""

    seq: int
    type: str
    body: dict[str, Any]


class ResponseEvents:
    """The Responses face of one job, built entry by entry from the job's log."""

    def __init__(self, info: capture.JobInfo, *, background: bool | None) -> None:
        self.id = response_id_of(info.id)
        self.model = info.model
        self.created_at = int(info.created)
        self.background = background
        hex_part = self.id.removeprefix("resp_")
        self.reasoning_id = f"rs_{hex_part}"
        self.message_id = f"msg_{hex_part}"
        self.reasoning: list[str] = []
        self.answer: list[str] = []
        self.answering = False
        self.terminal: capture.Terminal | None = None
        self.completed_at = int(info.finished) if info.finished is not None else None
        self._next = 0

    # -- the response object ---------------------------------------------------------------

    def response(self, status: str | None = None) -> dict[str, Any]:
        """The ``response`` object as it stands (what ``retrieve`` answers and the lifecycle events carry)."""
        terminal = self.terminal
        error: dict[str, Any] | None = None
        if status is None:
            status = "in_progress"
            if isinstance(terminal, capture.Complete):
                status = "completed"
            elif isinstance(terminal, capture.Error):
                status = "cancelled" if terminal.kind in _CANCELLED_KINDS else "failed"
        if isinstance(terminal, capture.Error) and status == "failed":
            error = {"code": _ERROR_CODES.get(terminal.kind, "server_error"), "message": terminal.message}
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "completed_at": self.completed_at,
            "status": status,
            "background": self.background,
            "error": error,
            "incomplete_details": None,
            "instructions": None,
            "model": self.model,
            "output": self._output(final=terminal is not None),
            "parallel_tool_calls": False,
            "tool_choice": "auto",
            "tools": [],
            "metadata": {},
            "text": {"format": {"type": "text"}},
            "usage": None,
        }

    def _reasoning_item(self, status: str) -> dict[str, Any]:
        return {
            "id": self.reasoning_id,
            "type": "reasoning",
            "status": status,
            "summary": [{"type": "summary_text", "text": "".join(self.reasoning)}],
        }

    def _message_item(self, status: str) -> dict[str, Any]:
        text = "".join(self.answer)
        return {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "status": status,
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
        }

    def _output(self, *, final: bool) -> list[dict[str, Any]]:
        done = "completed" if final or self.answering else "in_progress"
        output = [self._reasoning_item(done)]
        if self.answering:
            output.append(self._message_item("completed" if final else "in_progress"))
        return output

    # -- the stream ------------------------------------------------------------------------

    def _event(self, type_: str, **fields: Any) -> Numbered:
        numbered = Numbered(self._next, type_, {"type": type_, "sequence_number": self._next, **fields})
        self._next += 1
        return numbered

    def opening(self, queued: bool) -> list[Numbered]:
        """``response.created``, ``response.in_progress``, and the reasoning item's opening."""
        created = self.response("queued" if queued else "in_progress")
        created["output"] = []
        return [
            self._event("response.created", response=created),
            self._event("response.in_progress", response={**created, "status": "in_progress"}),
            self._event("response.output_item.added", output_index=0, item=self._reasoning_item("in_progress")
                        | {"summary": []}),
            self._event("response.reasoning_summary_part.added", item_id=self.reasoning_id, output_index=0,
                        summary_index=0, part={"type": "summary_text", "text": ""}),
        ]

    def feed(self, item: capture.Entry | capture.Gap) -> list[Numbered]:
        """The stream events of one of the job's entries (or of a trimmed stretch of its log)."""
        if isinstance(item, capture.Gap):
            self._next += item.last - item.first + 1  # printed lines, one delta each (see the docstring)
            return []
        event = item.event
        if isinstance(event, capture.Progress):
            if self.answering:
                return []  # printed after the answer began (see the module's docstring)
            self.reasoning.append(event.text)
            return [self._event("response.reasoning_summary_text.delta", item_id=self.reasoning_id, output_index=0,
                                summary_index=0, delta=event.text)]
        if isinstance(event, capture.Content):
            events = [] if self.answering else self._start_answer()
            self.answer.append(event.text)
            events.append(self._event("response.output_text.delta", item_id=self.message_id, output_index=1,
                                      content_index=0, delta=event.text, logprobs=[]))
            return events
        return self._finish(event)

    def _close_reasoning(self) -> list[Numbered]:
        text = "".join(self.reasoning)
        return [
            self._event("response.reasoning_summary_text.done", item_id=self.reasoning_id, output_index=0,
                        summary_index=0, text=text),
            self._event("response.reasoning_summary_part.done", item_id=self.reasoning_id, output_index=0,
                        summary_index=0, part={"type": "summary_text", "text": text}),
            self._event("response.output_item.done", output_index=0, item=self._reasoning_item("completed")),
        ]

    def _start_answer(self) -> list[Numbered]:
        events = self._close_reasoning()
        self.answering = True
        item = self._message_item("in_progress") | {"content": []}
        events.append(self._event("response.output_item.added", output_index=1, item=item))
        events.append(self._event("response.content_part.added", item_id=self.message_id, output_index=1,
                                  content_index=0, part={"type": "output_text", "text": "", "annotations": [],
                                                         "logprobs": []}))
        return events

    def _finish(self, terminal: capture.Terminal) -> list[Numbered]:
        if not self.answering:
            events = self._close_reasoning()
        else:
            text = "".join(self.answer)
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            events = [
                self._event("response.output_text.done", item_id=self.message_id, output_index=1, content_index=0,
                            text=text, logprobs=[]),
                self._event("response.content_part.done", item_id=self.message_id, output_index=1, content_index=0,
                            part=part),
                self._event("response.output_item.done", output_index=1, item=self._message_item("completed")),
            ]
        self.terminal = terminal
        if self.completed_at is None:
            self.completed_at = int(time.time())
        response = self.response()
        kind = {"completed": "response.completed", "failed": "response.failed"}.get(
            response["status"], "response.incomplete"
        )
        events.append(self._event(kind, response=response))
        return events
