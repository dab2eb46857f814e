"""The model catalogue: the models a client can ask for, and which job serves each.

Besides the built-in ones, ``JOBS`` serves jobs of your own: ``name=module:callable``
entries, each callable taking the input text and being either a generator in the job
protocol or a plain function whose returned ``str`` is the answer (another value is
answered as JSON).  ``async def`` functions and async generators work the same way,
on an event loop of their own in the job's thread.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import re
import time
import unicodedata
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import capture
from pipeline import CourseConfig, LLMSettings, parse_ticker_input, stream_course_generation_progress, ticker

from .errors import APIError
from .framing import finite

__all__ = ("CREATED", "DEFAULT_MODEL", "JobFactory", "Model", "build_models", "find_model", "load_jobs")

JobFactory = Callable[[], Iterator[dict[str, Any]]]

DEFAULT_MODEL = "course-generator"
CREATED = int(time.time())


@dataclass(frozen=True, slots=True)
class Model:
    id: str
    description: str
    backend: str  # what does the work: "embedded", or which language model
    prepare: Callable[[str], JobFactory]  # validates the input text; raises APIError


def _course_preparer(config: CourseConfig) -> Callable[[str], JobFactory]:
    def prepare(text: str) -> JobFactory:
        subject = " ".join(text.split())
        # Only invisible characters (zero-width spaces, joiners, BOMs) is empty too.
        if not any(unicodedata.category(c)[0] not in "CZ" for c in subject):
            raise APIError(400, "The subject is empty: say what the course should be about.", param="messages")
        return functools.partial(stream_course_generation_progress, subject, config)

    return prepare


def _prepare_ticker(text: str) -> JobFactory:
    try:
        spec = parse_ticker_input(text)
    except ValueError as exc:
        raise APIError(400, str(exc), param="messages") from None
    return functools.partial(ticker, spec)


def build_models(knowledge_base: Path | None, llm: LLMSettings | None) -> dict[str, Model]:
    """The models this server offers: ``course-generator`` uses the language model, if one is configured."""
    embedded = CourseConfig(knowledge_base=knowledge_base)
    course = "Writes a course from the knowledge base (input: the subject)."
    models = []
    if llm is not None:
        with_llm = CourseConfig(knowledge_base=knowledge_base, llm=llm)
        models.append(Model("course-generator", course, f"llm: {llm.describe()}", _course_preparer(with_llm)))
        models.append(Model("course-generator-embedded", course, "embedded", _course_preparer(embedded)))
    else:
        models.append(Model("course-generator", course, "embedded", _course_preparer(embedded)))
    models.append(
        Model(
            "ticker",
            'Diagnostic: prints "tick <i> <time_ns> <token>" lines '
            '(input: {"ticks": int, "interval": seconds, "token": str}).',
            "embedded",
            _prepare_ticker,
        )
    )
    return {m.id: m for m in models}


_JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def load_jobs(spec: str, taken: Iterable[str] = ()) -> dict[str, Model]:
    """The jobs of ``JOBS`` (``name=module:callable,…``), imported; ``ValueError`` names a bad entry, in one line."""
    models: dict[str, Model] = {}
    reserved = set(taken)
    for entry in (item.strip() for item in spec.split(",")):
        if not entry:
            continue
        name, _, target = (part.strip() for part in entry.partition("="))
        module_name, _, attribute = target.partition(":")
        if not _JOB_NAME.fullmatch(name) or not module_name or not attribute:
            raise ValueError(f"entry {entry!r} must be name=module:callable (a name of letters, digits, . _ -)")
        if name in reserved or name in models:
            raise ValueError(f"entry {entry!r}: the model {name!r} exists already")
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - whatever the import raised, one line that names the entry
            raise ValueError(f"entry {entry!r}: cannot import {module_name!r}: {_one_line(exc)}") from None
        fn: Any = module
        for part in attribute.split("."):
            fn = getattr(fn, part, None)
        if not callable(fn):
            raise ValueError(f"entry {entry!r}: {module_name} has no callable {attribute!r}")
        if not _takes_one_argument(fn):
            raise ValueError(f"entry {entry!r}: {target} must take one argument, the input text")
        doc = (fn.__doc__ or "").strip().splitlines()
        models[name] = Model(name, doc[0] if doc else f"{target} (input: text)", target, _own_preparer(fn))
    return models


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _takes_one_argument(fn: Callable[..., Any]) -> bool:
    try:
        inspect.signature(fn).bind("")
    except TypeError:
        return False
    except ValueError:  # no signature to be had (some built-ins): let the call say
        pass
    return True


def _own_preparer(fn: Callable[[str], Any]) -> Callable[[str], JobFactory]:
    def prepare(text: str) -> JobFactory:
        return functools.partial(_run_own, fn, text)

    return prepare


def _run_own(fn: Callable[[str], Any], text: str) -> Iterator[dict[str, Any]]:
    """A job of your own in the job protocol: a generator's items as they are, a returned ``str`` as
    the answer, another value as JSON; coroutines and async generators run on a loop of their own."""
    result = fn(text)
    if inspect.isawaitable(result):
        result = capture.run_async(result)
    if isinstance(result, AsyncIterator):
        result = capture.iterate_async(result)
    if isinstance(result, Iterator):
        yield from result
        return
    if result is None:
        yield {"type": "complete", "results": {}}
        return
    if isinstance(result, str):
        answer = result
    else:
        try:
            # A NaN becomes null, as in every other JSON this service writes: the answer parses anywhere.
            answer = json.dumps(finite(result), ensure_ascii=False, indent=2, allow_nan=False)
        except (TypeError, ValueError):
            raise TypeError(f"the job returned a {type(result).__name__}, which is neither text nor JSON") from None
    if answer:
        yield {"type": "content", "content": answer}
    yield {"type": "complete", "results": {"markdown": answer} if isinstance(result, str) else {"result": result}}


def find_model(models: dict[str, Model], name: Any, param: str) -> Model:
    if not isinstance(name, str) or not name:
        raise APIError(400, f"'{param}' must be a non-empty string.", param=param)
    model = models.get(name)
    if model is None:
        shown = name if len(name) <= 100 else name[:100] + "…"  # an error body no bigger than the question
        raise APIError(
            404,
            f"The model '{shown}' does not exist. Available: {', '.join(models)}.",
            param=param,
            code="model_not_found",
        )
    return model
