"""The models a client can ask for, and which job serves each."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import CourseConfig, LLMSettings, parse_ticker_input, stream_course_generation_progress, ticker

from .errors import APIError

__all__ = ("CREATED", "DEFAULT_MODEL", "JobFactory", "Model", "build_models", "find_model")

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
        if not subject:
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


def find_model(models: dict[str, Model], name: Any, param: str) -> Model:
    if not isinstance(name, str) or not name:
        raise APIError(400, f"'{param}' must be a non-empty string.", param=param)
    model = models.get(name)
    if model is None:
        raise APIError(
            404,
            f"The model '{name}' does not exist. Available: {', '.join(models)}.",
            param=param,
            code="model_not_found",
        )
    return model
