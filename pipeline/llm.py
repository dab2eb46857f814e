"""Optional: agents that write with a language model behind any OpenAI-compatible endpoint.

The knowledge base stays the source of facts: the model is given the sections the
retriever chose, numbered, with what their examples printed, and asked to write the
course from them only, citing them. Its answer streams to the client token by token (``content`` events); its
own reasoning, when it sends some (``reasoning_content`` or ``reasoning``), goes
to the thinking box.

Jobs run in worker threads, so the client is httpx's blocking one. Cancelling the
job shuts the upstream connection's socket down (``capture.on_cancel``): a read
blocked on it returns at once, and the upstream sees its client leave.

What clients read (errors, progress lines, the models list) names the model only: the
upstream's address may hold credentials (``https://user:password@host``) and is the
operator's business. The operator's log says which host failed, without credentials.
"""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from httpx_sse import SSEError, connect_sse

import capture

from .enhancer import Outline

logger = logging.getLogger(__name__)

__all__ = ("LLMCourseGenerator", "LLMError", "LLMSettings", "check_citations", "course_messages", "stream_chat")

MAX_PROMPT_CHARS = 16_000
MAX_TOKENS = 2_000  # a course, not a book: also bounds what a slow upstream can make a client wait for


@dataclass(frozen=True, slots=True)
class LLMSettings:
    base_url: str  # e.g. http://127.0.0.1:11434/v1 (Ollama), https://api.openai.com/v1
    model: str
    api_key: str = ""
    timeout: float = 60.0  # seconds to connect, and between two pieces of the answer
    max_retries: int = 2  # attempts after the first, for failures before any token arrived
    fallback: bool = False  # on failure, write the course with the embedded generator instead

    @property
    def host(self) -> str:
        """The upstream's host and port without any ``user:password@``: for the operator's log only."""
        parts = urlsplit(self.base_url)
        if not parts.hostname:
            return "(no host)"
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        try:
            port = parts.port
        except ValueError:  # a malformed port says nothing worth logging
            port = None
        return f"{host}:{port}" if port else host

    def describe(self) -> str:
        """What clients may read about the backend: the model's name, never the upstream's address."""
        return f"model '{self.model}'"

    @property
    def named(self) -> str:
        """The subject of client-facing error messages."""
        return f"the language model '{self.model}'"


class LLMError(Exception):
    """The upstream failed; ``message`` says how, in words a user can act on."""

    def __init__(self, message: str, *, retryable: bool = False, started: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.started = started  # some of the answer had already arrived


def stream_chat(settings: LLMSettings, messages: list[dict[str, str]]) -> Iterator[tuple[str, str]]:
    """Stream a chat completion: yields ("content" | "reasoning", text) pieces as they arrive.

    Retries (with a cancellable pause) what may pass: no connection, 429, 5xx, a
    timeout before the first piece. A failure after pieces arrived is not retried:
    they have been shown already.
    """
    attempt = 0
    while True:
        try:
            yield from _stream_once(settings, messages)
            return
        except LLMError as error:
            # The operator learns which upstream failed; the client's message names only the model.
            logger.warning("language model upstream %s: %s", settings.host, error.message)
            if error.started or not error.retryable or attempt >= settings.max_retries:
                raise
            attempt += 1
            pause = 0.5 * 2 ** (attempt - 1)
            print(f"The language model did not answer ({error.message}); trying again in {pause:g} s.")
            capture.sleep(pause)


def _stream_once(settings: LLMSettings, messages: list[dict[str, str]]) -> Iterator[tuple[str, str]]:
    headers = {"Accept": "text/event-stream"}
    if settings.api_key:
        headers["Authorization"] = f"Bearer {settings.api_key}"
    body = {"model": settings.model, "messages": messages, "stream": True, "max_tokens": MAX_TOKENS}
    url = settings.base_url.rstrip("/") + "/chat/completions"
    timeout = httpx.Timeout(settings.timeout, connect=min(settings.timeout, 10.0))
    started = False
    with httpx.Client(timeout=timeout, headers=headers) as client:
        try:
            with connect_sse(client, "POST", url, json=body) as source:
                response = source.response
                if response.status_code != 200:
                    response.read()
                    raise _status_error(settings, response)
                with capture.on_cancel(_shutdown_callback(response)):
                    for event in source.iter_sse():
                        if event.data.strip() == "[DONE]":
                            return
                        for kind, text in _pieces(settings, event.data):
                            started = True
                            yield kind, text
            if not started:
                raise LLMError(f"{settings.named} sent an empty answer")
            raise LLMError(f"{settings.named} ended its stream without [DONE]",
                           started=started)
        except capture.JobCancelled:
            raise
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            capture.check_cancelled()
            raise LLMError(f"{settings.named} is unreachable ({_reason(exc, settings)})",
                           retryable=True) from None
        except httpx.TimeoutException:
            capture.check_cancelled()
            raise LLMError(
                f"{settings.named} sent nothing for {settings.timeout:g} s",
                retryable=not started, started=started,
            ) from None
        except (httpx.TransportError, SSEError) as exc:
            capture.check_cancelled()  # our own shutdown of the socket, when the job was cancelled
            raise LLMError(
                f"{settings.named} was cut off"
                + (" mid-answer" if started else "") + f" ({_reason(exc, settings)})",
                retryable=not started, started=started,
            ) from None


def _pieces(settings: LLMSettings, data: str) -> Iterator[tuple[str, str]]:
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError:
        raise LLMError(f"{settings.named} sent something that is not JSON",
                       started=True) from None
    if isinstance(chunk, dict) and chunk.get("error"):
        error = chunk["error"]
        message = error.get("message") if isinstance(error, dict) else str(error)
        raise LLMError(f"{settings.named} failed: {message}", started=True)
    for choice in chunk.get("choices") or [] if isinstance(chunk, dict) else []:
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            yield "reasoning", reasoning
        content = delta.get("content")
        if isinstance(content, str) and content:
            yield "content", content


def _status_error(settings: LLMSettings, response: httpx.Response) -> LLMError:
    status = response.status_code
    try:
        detail = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        detail = response.reason_phrase
    if status in (401, 403):
        return LLMError(f"{settings.named} refused the API key ({status}: {detail})")
    if status == 404:
        return LLMError(f"{settings.named} does not exist upstream (404: {detail})")
    if status == 429:
        return LLMError(f"{settings.named} is rate-limiting requests (429: {detail})",
                        retryable=True)
    if status >= 500:
        return LLMError(f"{settings.named} failed (HTTP {status}: {detail})", retryable=True)
    return LLMError(f"{settings.named} refused the request (HTTP {status}: {detail})")


def _shutdown_callback(response: httpx.Response) -> Any:
    """A callback that shuts the response's socket down, so a read blocked on it returns."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None

    def shutdown() -> None:
        if isinstance(sock, socket.socket):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    return shutdown


def _reason(exc: Exception, settings: LLMSettings) -> str:
    """The transport's own words, without the upstream's address should they quote it."""
    text = str(exc).strip()
    reason = text.splitlines()[0][:120] if text else type(exc).__name__
    netloc = urlsplit(settings.base_url).netloc
    for secret in sorted({settings.base_url.rstrip("/"), netloc, settings.host} - {""}, key=len, reverse=True):
        reason = reason.replace(secret, "the upstream")
    return reason


SYSTEM_PROMPT = """You write short, accurate courses for programmers, in Markdown.
Use only the numbered sources you are given: no outside facts. Cite them as [1], [2] … after
the sentences that use them. A source, or a passage of one, that is not about the subject is to be
ignored, not summarised. Name functions and classes by the qualified names the sources give
(`asyncio.create_task`, not "a function"). Keep code examples from the sources intact, in fenced
code blocks; an example marked "ran" comes with its real output, which you may show under it.
Structure: a title (# …), learning objectives, a few sections (## …) with explanations and
examples, a summary, a quiz of 3 to 5 questions with the answers after them, and a list of the
sources you cited."""


def course_messages(outline: Outline) -> list[dict[str, str]]:
    """The prompt: the subject and the chosen sections, numbered, within a size budget."""
    parts: list[str] = []
    size = 0
    for number, section in enumerate(outline.sections, 1):
        text = "\n\n".join(
            f"```\n{block.text}\n```" if block.literal else block.text for block in section.paragraphs
        )
        names = f"\nAPI: {', '.join(section.api_names)}" if section.api_names else ""
        ran = "".join(
            f"\n\nExample (ran):\n```python\n{e.code}\n```\nOutput:\n```\n{e.output}\n```"
            for e in outline.examples if e.doc_id == section.doc_id
        )
        entry = f"[{number}] {section.doc_id} — {section.title}{names}\n{text}{ran}"
        if size + len(entry) > MAX_PROMPT_CHARS:
            entry = entry[: max(0, MAX_PROMPT_CHARS - size)]
        parts.append(entry)
        size += len(entry)
        if size >= MAX_PROMPT_CHARS:
            break
    user = f"Subject: {outline.subject}\n\nSources:\n\n" + "\n\n".join(parts)
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


class LLMCourseGenerator:
    """CourseGeneratorAgent's language-model twin: the course as the model writes it, token by token."""

    name = "CourseGeneratorAgent (language model)"

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings

    def write(self, outline: Outline) -> Iterator[str]:
        count = len(outline.sections)
        print(f"Asking {self.settings.describe()} to write the course from {count} source"
              f"{'' if count == 1 else 's'}.")
        thinking = False
        written: list[str] = []
        for kind, text in stream_chat(self.settings, course_messages(outline)):
            if kind == "reasoning":
                print(text, end="", flush=True)  # the model's own thinking, token by token
                thinking = not text.endswith("\n")
            else:
                if thinking:
                    print()
                    thinking = False
                written.append(text)
                yield text
        if thinking:
            print()
        unknown = check_citations("".join(written), count)
        if unknown:
            print(f"⚠️ The model cited sources it was not given: {', '.join(f'[{n}]' for n in unknown)}.")
        else:
            print("Citations checked: each one names a source the model was given.")


def check_citations(text: str, sources: int) -> list[int]:
    """Citation numbers in ``text`` that name no source of the prompt (there were ``sources``)."""
    cited = {int(n) for n in re.findall(r"\[(\d{1,3})\]", text)}
    return sorted(n for n in cited if not 1 <= n <= sources)

