"""The README's examples work: its curl -N commands, run as written against a real server."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess

import pytest

from tests.server import ROOT, ServerProcess

pytestmark = pytest.mark.integration


def readme_blocks(language: str) -> list[str]:
    """The README's code blocks in ``language``, as written."""
    return re.findall(rf"```{language}\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)


def readme_curl_commands() -> list[str]:
    commands = []
    for block in readme_blocks("sh"):
        joined = block.replace("\\\n", " ")
        commands += [line.strip() for line in joined.splitlines() if line.strip().startswith("curl -N")]
    return commands


def test_the_readme_has_curl_examples_for_each_streaming_route() -> None:
    commands = " ".join(readme_curl_commands())
    for route in ("/v1/chat/completions", "/v1/courses/stream", "model=ticker", "/v1/responses", "/api/chat"):
        assert route in commands


@pytest.mark.parametrize("command", [c for c in readme_curl_commands() if "job_…" not in c])
def test_readme_curl_examples_run(server: ServerProcess, command: str) -> None:
    curl = shutil.which("curl")
    assert curl is not None, "curl is not installed (.ci/run installs it)"
    args = shlex.split(command.replace("http://127.0.0.1:8000", server.url))
    result = subprocess.run([curl, "-sS", *args[1:]], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    ends = ("data: [DONE]", "event: complete", "event: response.completed")  # chat, EventSource, Responses
    assert any(end in result.stdout for end in ends), result.stdout[-500:]
