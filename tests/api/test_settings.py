"""Settings are checked before anything starts: a bad one stops startup with one line that names it.

Each case starts the service for real (``import service``, as uvicorn does) in a clean
environment, so what is checked is what an operator sees: the exit code and stderr.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import wait_for
from tests.server import ROOT, ServerProcess


def start(tmp_path: Path, env: dict[str, str], app: str = "import service") -> subprocess.CompletedProcess[str]:
    """Import the service with ``env`` (and a knowledge base that does not exist yet: that is fine)."""
    full_env = {"PATH": "/usr/bin:/bin", "KNOWLEDGE_BASE": str(tmp_path / "kb.sqlite3"), **env}
    return subprocess.run(
        [sys.executable, "-c", app], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=60
    )


def refused(result: subprocess.CompletedProcess[str], name: str) -> str:
    """The one line a refused setting gets on stderr (exit code 2)."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith(f"course-stream: bad setting: {name}: "), result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("name", "value"), [("MAX_CONCURRENT_JOBS", "many"), ("KNOWLEDGE_BASE", "/no/such/directory/kb.sqlite3")]
)
def test_a_bad_setting_stops_startup_with_one_line(tmp_path: Path, name: str, value: str) -> None:
    refused(start(tmp_path, {name: value}), name)
    assert not Path("/no/such/directory").exists()


# -- REDIS_URL: its form, as redis-py reads it --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("http://x", "is not a Redis URL"),
        ("redis://127.0.0.1:notaport/0", "is not a Redis URL"),
        ("redis://127.0.0.1:6379/zero", "the database 'zero' is not a number"),  # redis-py would use 0
        ("unix://", "names no socket"),
    ],
)
def test_a_malformed_redis_url_stops_startup_in_one_line(tmp_path: Path, value: str, reason: str) -> None:
    assert reason in refused(start(tmp_path, {"REDIS_URL": value}), "REDIS_URL")


# -- KNOWLEDGE_BASE: a file the knowledge base can use ------------------------------------------------


def _other_database(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE invoices(id INTEGER PRIMARY KEY)")
    db.close()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda path: path.write_text("root:x:0:0:root:/root:/bin/bash\n"), "not an SQLite database"),
        (lambda path: path.write_bytes(b"SQLite format 3\x00" + b"\x07" * 200), "not a usable SQLite database"),
        (_other_database, "an SQLite database but not a knowledge base"),
        (lambda path: path.mkdir(), "is not a file"),
    ],
    ids=["text", "corrupt", "another-database", "directory"],
)
def test_a_file_that_is_not_a_knowledge_base_stops_startup_in_one_line(
    tmp_path: Path, make: object, reason: str
) -> None:
    path = tmp_path / "kb.sqlite3"
    assert callable(make)
    make(path)
    before = sorted(tmp_path.iterdir())
    line = refused(start(tmp_path, {"KNOWLEDGE_BASE": str(path)}), "KNOWLEDGE_BASE")
    assert reason in line and str(path) in line
    assert sorted(tmp_path.iterdir()) == before, "nothing was written next to it"


def test_uvicorn_with_a_file_that_is_not_a_knowledge_base_does_not_start(tmp_path: Path) -> None:
    # What the user saw: an ERROR with a traceback, then /healthz ok and every course failing.
    path = tmp_path / "passwd"
    path.write_text("root:x:0:0:root:/root:/bin/bash\n")
    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", "service:app", "--port", "0"], cwd=ROOT, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "KNOWLEDGE_BASE": str(path)}, timeout=60,
    )
    assert "not an SQLite database" in refused(result, "KNOWLEDGE_BASE")


def test_an_empty_or_missing_knowledge_base_file_is_fine(tmp_path: Path) -> None:
    (tmp_path / "empty.sqlite3").touch()
    for name in ("empty.sqlite3", "missing.sqlite3", ""):  # "": the default, as when unset
        result = start(tmp_path, {"KNOWLEDGE_BASE": str(tmp_path / name) if name else ""})
        assert result.returncode == 0 and not result.stderr, result.stderr


def test_a_knowledge_base_that_does_not_exist_yet_is_made_with_a_warning(tmp_path: Path) -> None:
    # A new knowledge base is legitimate, but it is also what a mistyped path looks like.
    path = tmp_path / "knowlege.sqlite3"
    server = ServerProcess({"KNOWLEDGE_BASE": str(path)})
    try:
        wait_for(lambda: any("WARNING" in line and "does not exist" in line for line in server.output()),
                 "a warning naming the path", 60)
    finally:
        server.stop()
    line = next(line for line in server.output() if "does not exist" in line)
    assert f"KNOWLEDGE_BASE: {path} does not exist: a new knowledge base is made there" in line


# -- numbers: finite, every one of them ---------------------------------------------------------------


def test_no_number_setting_accepts_inf_or_nan(tmp_path: Path) -> None:
    """Every float and int setting of ``Settings``, each with inf, -inf and nan: refused as not finite."""
    script = """
import json, os, service
from pydantic import ValidationError
numbers = [name for name, f in service.Settings.model_fields.items() if f.annotation in (int, float)]
found = {}
for name in numbers:
    for value in ("inf", "-inf", "nan", "Infinity"):
        os.environ[name.upper()] = value
        try:
            service.Settings()
            found[f"{name}={value}"] = "accepted"
        except ValidationError as exc:
            found[f"{name}={value}"] = exc.errors()[0]["msg"]
    del os.environ[name.upper()]
print(json.dumps(found))
"""
    result = start(tmp_path, {}, app=script)
    assert result.returncode == 0, result.stderr
    found: dict[str, str] = json.loads(result.stdout)
    assert any(key.startswith("stream_token_ttl=") for key in found) and len(found) >= 4 * 20
    wrong = {key: msg for key, msg in found.items() if "finite" not in msg and "valid integer" not in msg}
    assert not wrong, wrong


def test_a_value_of_the_wrong_type_is_shown_and_a_secret_never(tmp_path: Path) -> None:
    assert refused(start(tmp_path, {"HEARTBEAT_INTERVAL": "ten"}), "HEARTBEAT_INTERVAL").endswith("(got 'ten')")
    line = refused(start(tmp_path, {"STREAM_TOKEN_SECRET": "s3cret-but-short"}), "STREAM_TOKEN_SECRET")
    assert "s3cret" not in line


def test_an_empty_variable_is_a_setting_left_unset(tmp_path: Path) -> None:
    script = "import service; s = service.Settings(); "
    script += "print(s.heartbeat_interval, s.max_concurrent_jobs, s.echo_job_output)"
    result = start(tmp_path, {"HEARTBEAT_INTERVAL": "", "MAX_CONCURRENT_JOBS": "", "ECHO_JOB_OUTPUT": ""}, app=script)
    assert result.returncode == 0 and result.stdout.split() == ["10.0", "64", "False"], result.stderr


@pytest.mark.parametrize(("name", "value"), [("STREAM_TOKEN_TTL", "inf"), ("HEARTBEAT_INTERVAL", "nan")])
def test_a_number_that_is_not_finite_stops_startup_saying_so(tmp_path: Path, name: str, value: str) -> None:
    env = {name: value, "API_KEYS": "a-key-long-enough-0123"}
    assert refused(start(tmp_path, env), name).endswith(f"Input should be a finite number (got {value!r})")


# -- secrets in URLs never show --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("redis://user:s3cretpw@127.0.0.1:1/0", 1),  # well formed, but nothing answers there
        ("redis://user:s3cretpw@127.0.0.1:notaport/0", 2),
        ("redis://127.0.0.1:1/0?password=s3cretpw&socket_timeout=soon", 2),
    ],
)
def test_a_redis_password_never_shows_in_startup_errors(tmp_path: Path, value: str, code: int) -> None:
    result = start(tmp_path, {"REDIS_URL": value})
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code and len(lines) == 1, result.stderr
    assert "REDIS_URL" in lines[0] and "***" in lines[0]
    assert "s3cretpw" not in result.stderr + result.stdout


def test_an_llm_password_never_shows_in_startup_errors(tmp_path: Path) -> None:
    result = start(tmp_path, {"LLM_BASE_URL": "http://user:s3cretpw@127.0.0.1:notaport/v1", "LLM_MODEL": "m"})
    assert "user:***@127.0.0.1" in refused(result, "LLM_BASE_URL")
    assert "s3cretpw" not in result.stderr


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://user:s3cretpw@127.0.0.1:1/0", "redis://user:***@127.0.0.1:1/0"),
        ("redis://:s3cretpw@127.0.0.1", "redis://:***@127.0.0.1"),
        ("https://s3cretpw@llm.example/v1", "https://***@llm.example/v1"),
        ("redis://h:notaport/0?db=1&password=s3cretpw#x", "redis://h:notaport/0?db=1&password=***#x"),
        ("http://[::1:8080/v1?api_key=s3cretpw", "http://[::1:8080/v1?api_key=***"),  # malformed: still hidden
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("user:s3cretpw@host", "user:***@host"),
    ],
)
def test_redact_url_hides_passwords_and_nothing_else(url: str, shown: str) -> None:
    from api.config import redact_url

    assert redact_url(url) == shown


# -- API_KEYS ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (",", "holds no key"),  # was: authentication silently off
        (" , ,  ", "holds no key"),
        ("first-key-0123456, second key 0123456", "key 2 of 2 holds whitespace"),
        ("clé-très-secrète-0123", "key 1 of 1 holds a character other than printable ASCII"),
    ],
)
def test_api_keys_that_are_not_keys_stop_startup(tmp_path: Path, value: str, reason: str) -> None:
    line = refused(start(tmp_path, {"API_KEYS": value}), "API_KEYS")
    assert reason in line
    assert "second key" not in line and "secrète" not in line, "a key is never shown"


def test_a_short_api_key_is_accepted_with_a_warning(default_kb: Path) -> None:
    with ServerProcess({"KNOWLEDGE_BASE": str(default_kb), "API_KEYS": "long-enough-key-0123, shortkey"}) as server:
        wait_for(lambda: any("Application startup complete" in line for line in server.output()), "started", 30)
        output = "\n".join(server.output())
    assert "WARNING" in output and "API_KEYS: key 2 is shorter than 16 characters" in output
    assert "shortkey" not in output and "long-enough-key" not in output


# -- CORS_ORIGINS, STREAM_TOKEN_SECRET, LLM_BASE_URL -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("CORS_ORIGINS", "example.com", "write scheme://host[:port], e.g. 'https://example.com'"),
        ("CORS_ORIGINS", "*", "would let any web page call the API"),
        ("CORS_ORIGINS", "https://a.example,null", "CORS_ORIGINS must not contain 'null'"),
        ("CORS_ORIGINS", "https://app.example/", "write 'https://app.example'"),  # never equal to an Origin
        ("CORS_ORIGINS", "https://App.example:443", "write 'https://app.example'"),
        ("CORS_ORIGINS", "https://app.example:port", "is not an origin"),
        ("STREAM_TOKEN_SECRET", "short", "at least 32"),
        ("LLM_BASE_URL", "notaurl", "is not an http(s) URL with a host"),
        ("LLM_BASE_URL", "ftp://models.example/v1", "is not an http(s) URL with a host"),
        ("LLM_BASE_URL", "http://models.example/v1?key=s3cretpw", "/chat/completions is appended"),
    ],
)
def test_a_value_of_the_wrong_form_stops_startup(tmp_path: Path, name: str, value: str, reason: str) -> None:
    line = refused(start(tmp_path, {name: value, "LLM_MODEL": "m"}), name)
    assert reason in line
    assert "s3cretpw" not in line and "short" not in line.split(":", 2)[2]


def test_values_of_the_right_form_start(tmp_path: Path) -> None:
    env = {
        "CORS_ORIGINS": "https://app.example, http://localhost:3000, http://[::1]:8080, chrome-extension://abcdefgh",
        "STREAM_TOKEN_SECRET": "x" * 32,
        "API_KEYS": "key-one,key-two",  # short: a warning at startup, not a refusal
        "LLM_BASE_URL": "https://user:pw@models.example:8443/v1/",  # credentials: sent as basic authentication
        "LLM_MODEL": "m",
        "REDIS_URL": "",
    }
    result = start(tmp_path, env)
    assert result.returncode == 0 and not result.stderr, result.stderr


# -- a stop signal during the first indexing ----------------------------------------------------------------


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_while_indexing_at_startup_stops_the_server_at_once(
    tmp_path: Path, stop: signal.Signals
) -> None:
    server = ServerProcess({"KNOWLEDGE_BASE": str(tmp_path / "kb.sqlite3")})  # new: indexed at startup
    try:
        wait_for(lambda: any("Indexing" in line for line in server.output()) or server.process.poll() is not None,
                 "indexing never began", 60)
        server.process.send_signal(stop)
        # Indexing the manual takes about a minute: the server must not wait for it.
        server.process.wait(timeout=10)
    finally:
        server.stop()
    output = server.output()
    assert not any("Traceback" in line for line in output), output
    if not any(line.startswith("Indexed") or " Indexed " in line for line in output):
        assert any("stopped before the knowledge base was indexed" in line for line in output), output
    with sqlite3.connect(tmp_path / "kb.sqlite3") as db:  # intact, and indexed again on the next start
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
