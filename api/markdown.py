"""The course's Markdown as HTML, for the page."""

from __future__ import annotations

import html

from markdown_it import MarkdownIt

__all__ = ("render_json", "render_markdown")

_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")


def render_markdown(text: str) -> str:
    """Markdown to HTML with raw HTML off: a document or a subject can never inject markup."""
    return str(_markdown.render(text))


def render_json(text: str) -> str:
    """A job's answer that is a value (JSON), shown as the code it is rather than as a paragraph."""
    return f'<pre><code class="language-json">{html.escape(text, quote=False)}</code></pre>\n'
