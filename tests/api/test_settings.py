"""Settings are checked before anything starts: a bad one stops startup with one line that names it.

In-process: ``load_settings()`` reads the environment as ``service:app`` does, and what is
checked is what an operator sees (exit code 2, one line on stderr). The same line from a real
``uvicorn service:app`` is checked once, in ``tests/integration/test_startup.py``.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import service
from api.setting_checks import redact_url
from service import Settings, create_app, load_settings

Starts = Callable[[dict[str, str]], Settings]
Refused = Callable[[dict[str, str], str], str]


@pytest.fixture
def starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Starts:
    """Read the settings from ``env`` (with a knowledge base that does not exist yet: that is fine)."""

    def read(env: dict[str, str]) -> Settings:
        for name in Settings.model_fields:  # each call reads only what it is given
            monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.setenv("KNOWLEDGE_BASE", str(tmp_path / "kb.sqlite3"))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return load_settings()

    return read


@pytest.fixture
def refused(starts: Starts, capsys: pytest.CaptureFixture[str]) -> Refused:
    """The one line a refused setting gets on stderr (exit code 2)."""

    def read(env: dict[str, str], name: str) -> str:
        with pytest.raises(SystemExit) as stopped:
            starts(env)
        assert stopped.value.code == 2
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"course-stream: bad setting: {name}: "), captured.err
        assert not captured.out
        return lines[0]

    return read


# -- building the app ---------------------------------------------------------------------------------


def test_building_the_app_starts_nothing(default_kb: Path) -> None:
    """No output captured, no thread, no store opened before the app starts: tests build one per case."""
    threads, stdout, stderr = threading.active_count(), sys.stdout, sys.stderr
    app = create_app(Settings(knowledge_base=default_kb, redis_url="redis://127.0.0.1:1/0"))  # nobody there
    assert app.state.runtime.config.job_limits.max_run_time == 600
    assert (threading.active_count(), sys.stdout, sys.stderr) == (threads, stdout, stderr)


def test_importing_the_service_reads_no_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    # ``service:app`` is made from the environment when uvicorn first reads it, not on import: here the
    # environment holds a bad setting and a Redis nobody answers at, and running the module is silent.
    monkeypatch.setenv("MAX_CONCURRENT_JOBS", "many")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    spec = importlib.util.spec_from_file_location("service_imported_again", service.__file__)
    assert spec is not None and spec.loader is not None
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)  # what ``import service`` runs; SystemExit here would fail the test
    assert "app" not in vars(fresh) and "app" not in vars(service)


def test_the_defaults_are_written_once_and_reach_every_layer(tmp_path: Path) -> None:
    config = Settings(knowledge_base=tmp_path / "kb.sqlite3").config()
    assert config.job_limits.max_run_time == 600 and config.job_limits.max_running == 64
    assert config.streaming.heartbeat_interval == 10 and config.streaming.send_timeout == 30
    assert config.requests.max_body_bytes == 1 << 20 and config.auth.api_keys == ()
    assert (config.requests.header_timeout, config.requests.max_header_bytes, config.requests.body_timeout) == (
        10, 65536, 30)
    assert config.auth.metrics_token == b"", "/metrics is open unless METRICS_TOKEN is set"
    assert "s3cret" not in repr(Settings(knowledge_base=tmp_path / "kb", api_keys="s3cret-key").config())


# -- any setting --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("MAX_CONCURRENT_JOBS", "many", "Input should be a valid integer"),
        ("KNOWLEDGE_BASE", "/no/such/directory/kb.sqlite3", "the directory '/no/such/directory' does not exist"),
        ("HEARTBEAT_STYLE", "loud", "Input should be 'chunk' or 'comment'"),
        ("JOB_LOG_EVENTS", "3", "Input should be greater than or equal to 10"),
        ("REASONING_FIELD", "thinking", "Input should be 'reasoning_content', 'reasoning' or 'think'"),
    ],
)
def test_a_bad_setting_stops_startup_with_one_line(refused: Refused, name: str, value: str, reason: str) -> None:
    assert reason in refused({name: value}, name)
    assert not Path("/no/such/directory").exists()


def test_two_bad_settings_are_named_in_the_same_line(refused: Refused) -> None:
    line = refused({"MAX_MESSAGES": "0", "SEND_TIMEOUT": "-1"}, "MAX_MESSAGES")
    assert "; SEND_TIMEOUT: " in line


def test_a_value_of_the_wrong_type_is_shown_and_a_secret_never(refused: Refused) -> None:
    assert refused({"HEARTBEAT_INTERVAL": "ten"}, "HEARTBEAT_INTERVAL").endswith("(got 'ten')")
    assert "s3cret" not in refused({"STREAM_TOKEN_SECRET": "s3cret-but-short"}, "STREAM_TOKEN_SECRET")


def test_an_empty_variable_is_a_setting_left_unset(starts: Starts) -> None:
    settings = starts({"HEARTBEAT_INTERVAL": "", "MAX_CONCURRENT_JOBS": "", "ECHO_JOB_OUTPUT": ""})
    assert (settings.heartbeat_interval, settings.max_concurrent_jobs, settings.echo_job_output) == (10, 64, False)


# -- JOBS: every entry imports, and takes the input text ---------------------------------------------


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("oops", "entry 'oops' must be name=module:callable"),
        ("x=tests.no_such_module:f", "entry 'x=tests.no_such_module:f': cannot import 'tests.no_such_module'"),
        ("x=tests.jobs_capture:nothing", "entry 'x=tests.jobs_capture:nothing': tests.jobs_capture has no callable"),
        ("ticker=tests.jobs_capture:shout", "entry 'ticker=tests.jobs_capture:shout': the model 'ticker' exists"),
        ("bad=tests.jobs_capture:takes_nothing", "must take one argument, the input text"),
    ],
)
def test_a_bad_jobs_entry_stops_startup_with_one_line_naming_it(refused: Refused, entry: str, says: str) -> None:
    assert says in refused({"JOBS": entry}, "JOBS")


def test_jobs_of_your_own_are_models(starts: Starts) -> None:
    settings = starts({"JOBS": "agent=examples.agent:research, echo=tests.jobs_capture:shout"})
    models = create_app(settings).state.runtime.models
    assert list(models)[-2:] == ["agent", "echo"] and models["echo"].backend == "tests.jobs_capture:shout"


# -- numbers: finite, every one of them ---------------------------------------------------------------


def test_no_number_setting_accepts_inf_or_nan(refused: Refused) -> None:
    """Every float and int setting of ``Settings``, each with inf, -inf and nan: refused as not finite."""
    numbers = [name for name, f in Settings.model_fields.items() if f.annotation in (int, float)]
    assert "stream_token_ttl" in numbers and len(numbers) >= 20
    for name in numbers:
        for value in ("inf", "-inf", "nan", "Infinity"):
            line = refused({name.upper(): value}, name.upper())
            assert "finite" in line or "valid integer" in line, line


@pytest.mark.parametrize(("name", "value"), [("STREAM_TOKEN_TTL", "inf"), ("HEARTBEAT_INTERVAL", "nan")])
def test_a_number_that_is_not_finite_stops_startup_saying_so(refused: Refused, name: str, value: str) -> None:
    line = refused({name: value, "API_KEYS": "a-key-long-enough-0123"}, name)
    assert line.endswith(f"Input should be a finite number (got {value!r})")


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
    tmp_path: Path, refused: Refused, make: Callable[[Path], object], reason: str
) -> None:
    path = tmp_path / "other.sqlite3"
    make(path)
    before = sorted(tmp_path.iterdir())
    line = refused({"KNOWLEDGE_BASE": str(path)}, "KNOWLEDGE_BASE")
    assert reason in line and str(path) in line
    assert sorted(tmp_path.iterdir()) == before, "nothing was written next to it"


def test_an_empty_or_missing_knowledge_base_file_is_fine(tmp_path: Path, starts: Starts) -> None:
    (tmp_path / "empty.sqlite3").touch()
    for name in ("empty.sqlite3", "missing.sqlite3"):
        assert starts({"KNOWLEDGE_BASE": str(tmp_path / name)}).knowledge_base == tmp_path / name
    assert starts({"KNOWLEDGE_BASE": ""}).knowledge_base is None  # "": the default, as when unset


# -- REDIS_URL: its form, as redis-py reads it; its password never shown ------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("http://x", "is not a Redis URL"),
        ("redis://127.0.0.1:notaport/0", "is not a Redis URL"),
        ("redis://127.0.0.1:6379/zero", "the database 'zero' is not a number"),  # redis-py would use 0
        ("unix://", "names no socket"),
    ],
)
def test_a_malformed_redis_url_stops_startup_in_one_line(refused: Refused, value: str, reason: str) -> None:
    assert reason in refused({"REDIS_URL": value}, "REDIS_URL")


@pytest.mark.parametrize(
    "value",
    ["redis://user:s3cretpw@127.0.0.1:notaport/0", "redis://127.0.0.1:1/0?password=s3cretpw&socket_timeout=soon"],
)
def test_a_redis_password_never_shows_in_startup_errors(refused: Refused, value: str) -> None:
    line = refused({"REDIS_URL": value}, "REDIS_URL")
    assert "***" in line and "s3cretpw" not in line


def test_a_redis_that_does_not_answer_stops_startup_in_one_line(starts: Starts) -> None:
    starts({"REDIS_URL": "redis://user:s3cretpw@127.0.0.1:1/0"})  # well formed, but nothing answers there
    with pytest.raises(SystemExit) as stopped:
        service.app  # noqa: B018 -- reading it makes it, as uvicorn does
    message = str(stopped.value.code)
    assert message.startswith("course-stream: REDIS_URL='redis://user:***@127.0.0.1:1/0': Redis does not answer")
    assert "\n" not in message and "s3cretpw" not in message
    assert "app" not in vars(service), "nothing half-made is kept"


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
    assert redact_url(url) == shown


# -- API_KEYS, CORS_ORIGINS, STREAM_TOKEN_SECRET, LLM_BASE_URL ---------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (",", "holds no key"),  # was: authentication silently off
        (" , ,  ", "holds no key"),
        ("first-key-0123456, second key 0123456", "key 2 of 2 holds whitespace"),
        ("clé-très-secrète-0123", "key 1 of 1 holds a character other than printable ASCII"),
    ],
)
def test_api_keys_that_are_not_keys_stop_startup(refused: Refused, value: str, reason: str) -> None:
    line = refused({"API_KEYS": value}, "API_KEYS")
    assert reason in line
    assert "second key" not in line and "secrète" not in line, "a key is never shown"


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
        ("METRICS_TOKEN", "two words", "holds whitespace"),
        ("METRICS_TOKEN", "tökén", "holds a character other than printable ASCII"),
        ("MAX_HEADER_BYTES", "100", "Input should be greater than or equal to 1024"),
        ("HEADER_TIMEOUT", "-1", "Input should be greater than or equal to 0"),
        ("BODY_TIMEOUT", "-1", "Input should be greater than or equal to 0"),
        ("LLM_BASE_URL", "notaurl", "is not an http(s) URL with a host"),
        ("LLM_BASE_URL", "ftp://models.example/v1", "is not an http(s) URL with a host"),
        ("LLM_BASE_URL", "http://models.example/v1?key=s3cretpw", "/chat/completions is appended"),
        ("LLM_BASE_URL", "http://user:s3cretpw@127.0.0.1:notaport/v1", "user:***@127.0.0.1"),
    ],
)
def test_a_value_of_the_wrong_form_stops_startup(refused: Refused, name: str, value: str, reason: str) -> None:
    line = refused({name: value, "LLM_MODEL": "m"}, name)
    assert reason in line
    assert "s3cretpw" not in line and "short" not in line.split(":", 2)[2]


def test_settings_that_need_one_another(refused: Refused) -> None:
    assert "LLM_MODEL must say which model" in refused({"LLM_BASE_URL": "http://127.0.0.1:1/v1"}, "settings")
    line = refused({"REDIS_URL": "redis://127.0.0.1:1/0", "API_KEYS": "a-key-long-enough-0123"}, "settings")
    assert "STREAM_TOKEN_SECRET must be set" in line


def test_values_of_the_right_form_start(starts: Starts) -> None:
    settings = starts({
        "CORS_ORIGINS": "https://app.example, http://localhost:3000, http://[::1]:8080, chrome-extension://abcdefgh",
        "STREAM_TOKEN_SECRET": "x" * 32,
        "API_KEYS": "key-one,key-two",  # short: a warning at startup, not a refusal
        "LLM_BASE_URL": "https://user:pw@models.example:8443/v1/",  # credentials: sent as basic authentication
        "LLM_MODEL": "m",
        "REDIS_URL": "",
    })
    config = create_app(settings).state.runtime.config
    assert config.auth.api_keys == ("key-one", "key-two") and len(config.auth.cors_origins) == 4
