"""The jobs: the course generator (three agents over a knowledge base) and the ``ticker`` diagnostic."""

from .knowledge import KnowledgeBase, open_default
from .llm import LLMSettings
from .orchestrator import CourseConfig, stream_course_generation_progress
from .ticker import TickerSpec, parse_ticker_input, ticker

__all__ = (
    "CourseConfig",
    "KnowledgeBase",
    "LLMSettings",
    "TickerSpec",
    "open_default",
    "parse_ticker_input",
    "stream_course_generation_progress",
    "ticker",
)
