"""Jobs that try to escape their capture, served through ``JOBS`` by tests/integration/test_isolation.py."""

from __future__ import annotations

import io
import logging
import sys
import threading
import time


def leaves_threads(seconds: str) -> str:
    """Start 50 threads that outlive the job by ``seconds``, then return at once."""
    for _ in range(50):
        threading.Thread(target=time.sleep, args=(float(seconds),), daemon=True).start()
    return "left threads behind"


def swaps_sys_dict(token: str) -> str:
    """Replace ``sys.stdout`` behind the proxy's back, through ``vars(sys)``, then print."""
    buffer = io.StringIO()
    vars(sys)["stdout"] = buffer
    for i in range(200):
        print(f"swapped {token} {i}")
        time.sleep(0.001)
    return f"kept {buffer.getvalue().count(chr(10))} lines"


def counts(token: str) -> str:
    """Print 200 numbered lines, slowly enough to overlap with another job."""
    for i in range(200):
        print(f"count {token} {i}")
        time.sleep(0.002)
    return "counted"


def writes_bytes(token: str) -> str:
    """Write through ``sys.stdout.buffer``, as code that prints bytes does."""
    sys.stdout.buffer.write(f"bytes {token}\n".encode())
    sys.stdout.flush()
    return "wrote"


def configures_logging(token: str) -> str:
    """``logging.basicConfig(force=True)``: what scripts do first, and what must not reach the server's logging."""
    logging.basicConfig(force=True, level=logging.DEBUG, format="JOBLOG %(name)s %(message)s")
    logging.getLogger("job").info("configured %s", token)
    return "configured"


def imports_fresh(token: str) -> str:
    """Import a module nobody imported before, as a job's lazy ``import httpcore`` does, and print from it."""
    import importlib
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        name = f"fresh_{token}"
        with open(f"{folder}/{name}.py", "w", encoding="utf-8") as source:
            source.write("import sys\nVALUE = 41 + 1\nprint('imported', __name__)\n")
        sys.path.insert(0, folder)
        try:
            module = importlib.import_module(name)
        finally:
            sys.path.remove(folder)
    module.LATER = "set"  # type: ignore[attr-defined]  # a new module's attributes are its own, as before
    return f"{module.VALUE} {module.LATER} {vars(module)['VALUE']}"
