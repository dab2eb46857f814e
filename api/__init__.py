"""The HTTP face: an OpenAI-compatible chat API, a browser EventSource route, jobs as resources.

One module per concept: ``parsing`` (what clients send), ``catalogue`` (which job serves
which model name), ``chat`` and ``events`` (the two streaming faces), ``jobs`` (jobs as
resources), ``info`` (the small routes), ``framing`` (text on the wire), ``sse``
(the event-stream response), ``transport`` (the connection under it), ``http_guard`` (the
server's protocol, bounding headers), ``errors``, ``auth``,
``observability``, ``runtime`` (the state one app shares), ``app_config`` (the frozen values
it is configured with) and ``setting_checks`` (the form of each setting). ``service.py`` holds
the settings and the route table. A print's path through here, and through ``capture`` before
it, is written down once: README, "From print() to the screen".
"""

from .errors import exception_handlers
from .middleware import middleware
from .runtime import Runtime
from .transport import Application

__all__ = ("Application", "Runtime", "exception_handlers", "middleware")
