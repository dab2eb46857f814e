"""The AI SDK's UI message stream, read by the AI SDK itself (npm ``ai``, under Node) from a real server.

``tests/node/ui_chat.mjs`` does what ``useChat`` does: ``DefaultChatTransport.sendMessages``
read with ``readUIMessageStream``, then ``reconnectToStream`` as ``useChat({resume: true})`` does
on load; ``tests/node/responses_provider.mjs`` reads ``/v1/responses`` with the AI SDK's own
OpenAI provider (``@ai-sdk/openai``, whose default API it is). Node must be installed
(``.ci/run`` installs it and runs ``npm ci`` in ``tests/node``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_readme import readme_blocks
from tests.server import ROOT, ServerProcess

pytestmark = pytest.mark.integration

NODE_DIR = ROOT / "tests" / "node"


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("node is not installed, and CI must run the AI SDK's tests (.ci/run installs it)")
        pytest.skip("node is not installed: the AI SDK's tests need Node 20 or later and npm")
    if not (NODE_DIR / "node_modules" / "ai").is_dir():
        npm = shutil.which("npm")
        assert npm is not None, "npm is not installed (it comes with Node; .ci/run installs both)"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=300,
                       capture_output=True)
    return found


def ui_chat(node: str, server: ServerProcess, text: str, chat_id: str, **options: Any) -> dict[str, Any]:
    """What the AI SDK read: the message's parts, the errors it reported, and its reconnect's answer."""
    args = json.dumps({"url": server.url, "text": text, "chatId": chat_id, **options})
    result = subprocess.run([node, "ui_chat.mjs", args], cwd=NODE_DIR, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def test_reasoning_parts_then_the_course_as_text_then_no_stream_to_resume(node: str, server: ServerProcess) -> None:
    read = ui_chat(node, server, "generators", "chat-generators", reconnect=True)
    assert read["errors"] == [] and "thrown" not in read
    assert [part["type"] for part in read["parts"]] == ["reasoning", "text"]
    reasoning, text = read["parts"]
    assert "Lookup 1: " in reasoning["text"] and reasoning["state"] == "done"
    assert text["text"].startswith("# ") and "generator" in text["text"].lower() and text["state"] == "done"
    assert read["reconnect"] == "none"  # the job ended: 204, nothing to resume


def test_a_reconnect_while_the_job_runs_replays_it_to_its_end(node: str, server: ServerProcess) -> None:
    ticker = json.dumps({"ticks": 30, "interval": 0.05})
    read = ui_chat(node, server, ticker, "chat-ticker", model="ticker", stopAfter=3, reconnect=True)
    replayed = read["reconnect"]
    assert replayed != "none" and replayed["errors"] == []
    assert [part["type"] for part in replayed["parts"]] == ["reasoning", "text"]
    ticks = [int(line.split()[1]) for line in replayed["parts"][0]["text"].splitlines()]
    assert ticks == list(range(30))
    assert replayed["parts"][1]["text"].startswith("ticker done: 30 ticks")


OTHER_KEY = "another-key-for-the-ai-sdk-tests"


@pytest.fixture(scope="module")
def strict_server(default_kb: Path) -> Iterator[ServerProcess]:
    """API keys on, and jobs stopped after one second."""
    env = {"KNOWLEDGE_BASE": str(default_kb), "API_KEYS": f"key-for-the-ai-sdk-tests,{OTHER_KEY}",
           "JOB_TIMEOUT": "1"}
    with ServerProcess(env) as running:
        yield running


def test_a_failure_is_an_error_part_and_a_refusal_an_error(node: str, strict_server: ServerProcess) -> None:
    key = {"Authorization": "Bearer key-for-the-ai-sdk-tests"}
    slow = json.dumps({"ticks": 100, "interval": 0.1})
    failed = ui_chat(node, strict_server, slow, "chat-slow", model="ticker", headers=key)
    assert len(failed["errors"]) == 1 and "longer than the limit of 1 s" in failed["errors"][0]
    assert failed["parts"][0]["type"] == "reasoning" and "tick 0" in failed["parts"][0]["text"]
    refused = ui_chat(node, strict_server, slow, "chat-refused", model="ticker")
    assert "Missing API key" in refused["thrown"]
    bad = ui_chat(node, strict_server, "{not json", "chat-bad", model="ticker", headers=key)
    assert bad["thrown"].startswith("ticker input must be JSON")


def test_the_readme_example_reads_a_course(node: str, server: ServerProcess) -> None:
    (example,) = [block for block in readme_blocks("js") if "DefaultChatTransport" in block]
    with tempfile.NamedTemporaryFile("w", suffix=".mjs", dir=NODE_DIR, delete=False) as script:
        script.write(example.replace("http://127.0.0.1:8000", server.url))
    try:
        result = subprocess.run([node, script.name], cwd=NODE_DIR, capture_output=True, text=True, timeout=90)
    finally:
        Path(script.name).unlink()
    assert result.returncode == 0, result.stderr[-2000:]
    reasoning, text = result.stdout.splitlines()
    assert reasoning.startswith('reasoning "Knowledge base: ') and text.startswith('text "# ')


def test_on_the_wire_the_protocol_header_comment_heartbeats_and_done(server: ServerProcess) -> None:
    ticker = json.dumps({"ticks": 2, "interval": 0.6})
    message = {"id": "m1", "role": "user", "parts": [{"type": "text", "text": ticker}]}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        answer = http.post("/api/chat", json={"id": "wire", "model": "ticker", "messages": [message]})
    assert answer.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert ": ping" in answer.text  # heartbeats are SSE comments, which the transport skips
    assert answer.text.endswith("data: [DONE]\n\n")


def test_the_ai_sdk_openai_provider_reads_the_responses_api(node: str, server: ServerProcess) -> None:
    """``@ai-sdk/openai`` speaks the Responses API by default: the printed lines are its reasoning."""
    ticker = json.dumps({"ticks": 3, "interval": 0.01})
    result = subprocess.run([node, "responses_provider.mjs", server.url, "ticker", ticker], cwd=NODE_DIR,
                            capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    read = json.loads(result.stdout)
    assert read["errors"] == []
    types = [kind for kind in read["types"] if kind not in ("start", "start-step", "finish-step", "finish")]
    assert types[0] == "reasoning-start" and types.index("reasoning-end") < types.index("text-start")
    assert [int(line.split()[1]) for line in read["reasoning"].splitlines()] == [0, 1, 2]
    assert read["text"].startswith("ticker done: 3 ticks")


def test_a_chat_resumes_only_under_the_key_that_started_it(strict_server: ServerProcess) -> None:
    mine, theirs = ({"Authorization": f"Bearer {key}"} for key in ("key-for-the-ai-sdk-tests", OTHER_KEY))
    ticker = json.dumps({"ticks": 100, "interval": 0.1})
    message = {"id": "m1", "role": "user", "parts": [{"type": "text", "text": ticker}]}
    with httpx.Client(base_url=strict_server.url, timeout=10) as http:
        body = {"id": "shared-chat-id", "model": "ticker", "messages": [message]}
        with http.stream("POST", "/api/chat", headers=mine, json=body) as running:
            assert next(running.iter_lines()).startswith('data: {"type":"start"')
            other = http.get("/api/chat/shared-chat-id/stream", headers=theirs)
            with http.stream("GET", "/api/chat/shared-chat-id/stream", headers=mine) as resumed:
                status = resumed.status_code
    assert other.status_code == 204 and status == 200
