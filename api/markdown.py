"""The course's Markdown as HTML, for the page."""

from __future__ import annotations

from markdown_it import MarkdownIt

__all__ = ("render_markdown",)

_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")


def render_markdown(text: str) -> str:
    """Markdown to HTML with raw HTML off: a document or a subject can never inject markup."""
    return str(_markdown.render(text))
