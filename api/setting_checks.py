"""The form of the settings, checked before anything starts (``service.Settings`` calls them).

Each check raises ``ValueError`` in words an operator can act on, which becomes the one line that
names the setting. None of them echoes a secret: URLs are shown through ``redact_url``, API keys only by
their place in the list. (The knowledge base checks its own file: ``pipeline.knowledge_file``.)
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

__all__ = (
    "check_api_keys",
    "check_cors_origins",
    "check_llm_base_url",
    "check_metrics_token",
    "check_redis_url",
    "check_signing_secret",
    "parse_list",
    "redact_url",
)


def parse_list(value: str) -> tuple[str, ...]:
    """A comma-separated setting as a tuple (empty items dropped)."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


# -- URLs in messages -------------------------------------------------------------------------------

# Query parameters that may carry a credential (redis-py reads ?password=…, for one).
_SECRET_QUERY = re.compile(r"([?&][^=&#]*(?:pass|pwd|secret|token|key|auth)[^=&#]*=)[^&#]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` fit for a message or a log line: its password (``user:***@``) and secret query values hidden.

    String surgery rather than ``urlsplit``: the URLs a message shows are often the malformed
    ones (a bad port, a bad IPv6 literal), which ``urlsplit`` refuses to take apart.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        userinfo, _, host = authority.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        authority = f"{user}:***@{host}" if colon else f"***@{host}"
    return scheme + separator + authority + _SECRET_QUERY.sub(r"\1***", tail)


# -- the checks ---------------------------------------------------------------------------------------

_REDIS_FORMS = "redis://[user:password@]host[:port][/db], rediss://… (TLS), or unix:///path/to/socket[?db=n]"


def check_redis_url(url: str) -> None:
    """A URL redis-py connects with, as it reads it, and no part it would silently ignore."""
    from redis.asyncio.connection import parse_url  # what the job registry connects with

    shown = repr(redact_url(url))
    try:
        parts = parse_url(url)
        path = unquote(urlsplit(url).path)
    except ValueError as exc:
        raise ValueError(f"{shown} is not a Redis URL ({exc}); write {_REDIS_FORMS}") from None
    if url.lower().startswith("unix:"):
        if not parts.get("path"):
            raise ValueError(f"{shown} names no socket; write unix:///path/to/socket")
    elif path.strip("/") and not path.strip("/").isdigit():
        # redis-py would quietly use database 0 instead.
        raise ValueError(f"{shown}: the database {path.strip('/')!r} is not a number; write {_REDIS_FORMS}")


def check_llm_base_url(url: str) -> None:
    """An http(s) URL with a host, to which ``/chat/completions`` is appended.

    ``user:password@`` is allowed (sent as basic authentication): the pipeline shows clients
    the model's name only, and its log the host without them.
    """
    shown = repr(redact_url(url))
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- parsing the port is the check: it raises ValueError
    except ValueError as exc:
        raise ValueError(f"{shown} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{shown} is not an http(s) URL with a host, e.g. http://127.0.0.1:11434/v1")
    if parts.query or parts.fragment:
        raise ValueError(f"{shown} has a query or fragment: /chat/completions is appended to it")


def _origin(text: str) -> str:
    """``text`` as a browser writes an origin (scheme://host[:port], lower case, no default port)."""
    parts = urlsplit(text)
    port = parts.port  # raises ValueError when it is not a number
    if "://" not in text or not parts.scheme or not parts.hostname:
        raise ValueError
    host = parts.hostname
    try:
        host = host.encode("idna").decode("ascii")  # browsers send internationalised names in punycode
    except UnicodeError:
        pass
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def check_cors_origins(value: str) -> None:
    """Each origin exactly as a browser sends it in ``Origin``: it is compared as a string."""
    for origin in parse_list(value):
        if origin.lower() == "null":
            # "null" is the origin of sandboxed iframes and file:// pages: allowing it allows anyone.
            raise ValueError("CORS_ORIGINS must not contain 'null'")
        if origin == "*":
            raise ValueError("'*' would let any web page call the API from its visitors' browsers: list the origins")
        try:
            canonical = _origin(origin)
        except ValueError:
            # The usual slip is a bare host name: show it with a scheme.
            example = "" if "://" in origin else f", e.g. {'https://' + origin.split('/')[0]!r}"
            raise ValueError(f"{redact_url(origin)!r} is not an origin: write scheme://host[:port]{example}") from None
        if canonical != origin:
            raise ValueError(
                f"{redact_url(origin)!r} is not an origin as a browser sends it (nothing after the host "
                f"and port, lower case, no default port): write {canonical!r}"
            )


# Keys are compared with what follows "Bearer " in a header: whitespace would split them, and
# characters beyond printable ASCII do not survive header encodings.
_KEY_CHARS = re.compile(r"[!-~]+")


def check_api_keys(value: str) -> None:
    """A set ``API_KEYS`` holds at least one key, each one a header can carry."""
    keys = parse_list(value)
    if value and not keys:
        # Authentication would be off while the operator believes it on.
        raise ValueError("holds no key (only commas or spaces); leave it empty for no authentication")
    for number, key in enumerate(keys, 1):
        if not _KEY_CHARS.fullmatch(key):
            what = "whitespace (keys are separated by commas)" if re.search(r"\s", key) else (
                "a character other than printable ASCII")
            raise ValueError(f"key {number} of {len(keys)} holds {what}")


def check_metrics_token(value: str) -> None:
    """A token a header can carry, as one word after "Bearer "."""
    if not _KEY_CHARS.fullmatch(value):
        what = "whitespace" if re.search(r"\s", value) else "a character other than printable ASCII"
        raise ValueError(f"holds {what}: the token is sent as 'Authorization: Bearer <token>'")


MIN_SECRET_CHARS = 32


def check_signing_secret(value: str) -> None:
    """Long enough that tokens, which travel in URLs, do not let anyone work it out offline."""
    if value and len(value) < MIN_SECRET_CHARS:
        raise ValueError(
            f"{len(value)} characters: a signing secret needs at least {MIN_SECRET_CHARS} "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
