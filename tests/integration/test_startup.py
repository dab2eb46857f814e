"""Starting a real server: a bad setting stops ``uvicorn service:app`` with one line, what is legitimate
but suspicious is a warning, and a stop signal during the first indexing stops it at once."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import wait_for
from tests.server import ROOT, ServerProcess

pytestmark = pytest.mark.integration


def test_uvicorn_with_bad_settings_stops_with_one_line_naming_them_and_no_secret(tmp_path: Path) -> None:
    # What a user once saw: an ERROR with a traceback, then /healthz ok and every course failing.
    path = tmp_path / "passwd"
    path.write_text("root:x:0:0:root:/root:/bin/bash\n")
    env = {"PATH": "/usr/bin:/bin", "KNOWLEDGE_BASE": str(path), "REDIS_URL": "redis://user:s3cretpw@h:notaport/0"}
    result = subprocess.run([sys.executable, "-m", "uvicorn", "service:app", "--port", "0"], cwd=ROOT,
                            capture_output=True, text=True, env=env, timeout=60)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("course-stream: bad setting: KNOWLEDGE_BASE: ") and "not an SQLite database" in lines[0]
    assert "; REDIS_URL: 'redis://user:***@h:notaport/0' is not a Redis URL" in lines[0]
    assert "s3cretpw" not in result.stderr + result.stdout


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


def test_a_short_api_key_is_accepted_with_a_warning(default_kb: Path) -> None:
    with ServerProcess({"KNOWLEDGE_BASE": str(default_kb), "API_KEYS": "long-enough-key-0123, shortkey"}) as server:
        wait_for(lambda: any("Application startup complete" in line for line in server.output()), "started", 30)
        output = "\n".join(server.output())
    assert "WARNING" in output and "API_KEYS: key 2 is shorter than 16 characters" in output
    assert "shortkey" not in output and "long-enough-key" not in output


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
