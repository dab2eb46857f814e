"""The README's job of your own (``examples/agent.py``) runs as written, through ``JOBS``."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess

import pytest

from tests.server import ROOT, ServerProcess

pytestmark = pytest.mark.integration


def readme_example() -> tuple[str, str]:
    """The ``JOBS=…`` setting and the ``curl -N`` command of the README's "Jobs of your own"."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```bash\n(.*?)```", text, re.S) if "JOBS=" in b).replace("\\\n", " ")
    jobs = next(word for word in block.split() if word.startswith("JOBS="))[len("JOBS=") :]
    curl = next(line.strip() for line in block.splitlines() if line.strip().startswith("curl -N"))
    return jobs, curl


def test_the_example_job_streams_everything_it_writes() -> None:
    jobs, command = readme_example()
    curl = shutil.which("curl")
    assert curl is not None, "curl is not installed (.ci/run installs it)"
    with ServerProcess({"JOBS": jobs, "ECHO_JOB_OUTPUT": "0"}) as server:
        args = shlex.split(command.replace("http://127.0.0.1:8000", server.url))
        result = subprocess.run([curl, "-sS", *args[1:]], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "data: [DONE]" in out, out[-500:]
    for printed in ("PHASE 1", "WARNING examples.agent", "looking up async", "a helper thread says hello",
                    "PHASE 2", "100%|##########| 100/100", "Key words: ASYNC, GENERATORS"):
        assert printed in out, printed
    assert "\\r" not in out and "\\u001b" not in out  # no raw carriage returns or escapes in the JSON
