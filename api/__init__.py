"""The HTTP face: an OpenAI-compatible chat API, a browser EventSource route, jobs as resources.

One module per concept: ``parsing`` (what clients send), ``models`` (which job serves
which name), ``chat`` and ``events`` (the two streaming faces), ``jobs`` (jobs as
resources), ``info`` (the small routes), ``framing`` (text on the wire), ``sse``
(the event-stream response), ``transport`` (the connection under it), ``errors``, ``auth``, ``observability``, and
``runtime`` (the state one app shares). ``service.py`` holds the settings and the
route table.

Data path, from a job's ``print()`` to a client's screen::

    agent code: print("Query 3/8 …")
      → capture's thread-local stdout proxy → the job's LineWriter (one line, one event)
      → bounded janus queue (worker thread → event loop)
      → the job's lifecycle (capture.Job) → its log, or its one reader
      → chat: an OpenAI chunk (delta.reasoning_content); events: a named SSE event
      → sse-starlette's EventSourceResponse (framing, heartbeat pings, disconnect)
      → uvicorn → the client
"""

from .config import Config
from .errors import exception_handlers
from .middleware import middleware
from .runtime import Runtime
from .transport import Application

__all__ = ("Application", "Config", "Runtime", "exception_handlers", "middleware")
