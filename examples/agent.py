"""A job of your own, written like ordinary agent code, served by course-stream.

    JOBS=agent=examples.agent:research,echo=examples.agent:echo make run

Nothing here knows about the service: it prints, logs, starts a thread, runs a
command and draws a progress bar, and all of it reaches the client's thinking box.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import capture

log = logging.getLogger("examples.agent")


def research(question: str) -> Iterator[dict[str, Any]]:
    """Researches a question, loudly (input: any text)."""
    print(f"PHASE 1: thinking about {question!r}")
    log.warning("no knowledge base here: making things up")  # -> "WARNING examples.agent: …"

    def look_up(topic: str) -> str:
        print(f"  looking up {topic}")  # a pool thread: still this job's output
        return topic.upper()

    with ThreadPoolExecutor(max_workers=2) as pool:
        found = list(pool.map(look_up, question.split()[:3]))

    watcher = threading.Thread(target=lambda: print("  a helper thread says hello"))
    watcher.start()
    watcher.join()

    print("PHASE 2: asking the system")
    capture.run_process(["uname", "-sr"])  # its output streams in; killed if the client leaves

    for step in range(101):  # a tqdm-style bar: one updating line for the client
        sys.stderr.write(f"\r{step:3d}%|{'#' * (step // 10):10s}| {step}/100")
        sys.stderr.flush()
        capture.sleep(0.02)  # a wait that ends when the client leaves
    sys.stderr.write("\n")

    answer = f"# {question}\n\nKey words: {', '.join(found)}.\n"
    yield {"type": "content", "content": answer}
    yield {"type": "complete", "results": {"markdown": answer}}


def echo(text: str) -> str:
    """Answers with its input (a plain function: its returned str is the answer)."""
    print("echoing")
    time.sleep(0.1)
    return text
