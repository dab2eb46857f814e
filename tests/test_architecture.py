"""The project's layering, checked from the imports (a picture in the README goes stale; this does not).

``service → api → capture, pipeline``: ``api`` never imports ``service``; ``capture``
knows nothing of HTTP or courses; ``pipeline`` nothing of HTTP; nothing in the product
imports ``bench`` or ``tests``; and nothing outside a package imports its private modules.

Inside ``capture``, a print's path (README, "From print() to the screen") is
``_proxy → _lines → _bridge → _job → _registry``; ``CAPTURE_IMPORTS`` says which of
its own modules each module may import, so that the path cannot quietly loop back.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("service.py", "job_worker.py", "api", "capture", "pipeline")
HTTP = {"starlette", "sse_starlette", "uvicorn", "httptools", "prometheus_client"}

# Which top-level names each part of the product may not import.
FORBIDDEN = {
    "api": {"service", "bench", "tests"},
    "capture": {"service", "api", "pipeline", "bench", "tests", *HTTP},
    "pipeline": {"service", "api", "bench", "tests", *HTTP},
    "service.py": {"bench", "tests"},
    "job_worker.py": {"bench", "tests"},
}

# Each capture module, and the capture modules it may import when it runs (imports under
# ``if TYPE_CHECKING:`` only name types, and are not counted). A new module gets a row here.
CAPTURE_IMPORTS: dict[str, set[str]] = {
    # the values every module speaks of
    "_events": set(),
    "_limits": set(),
    # a print's path, in order
    "_proxy": {"_lines"},
    "_lines": set(),
    "_bridge": {"_events", "_lines", "_proxy"},
    "_job": {"_admission", "_bridge", "_events", "_limits", "_log", "_worker"},
    "_registry": {"_admission", "_events", "_job", "_limits"},
    # beside the path: where a job's code runs and what else it writes
    "_worker": {"_bridge", "_events", "_hooks", "_limits", "_proxy", "_threads"},
    "_hooks": {"_bridge", "_events", "_proxy"},
    "_threads": set(),
    "_subprocess": {"_bridge"},
    "_async": {"_bridge"},
    # what the lifecycle and the registry use
    "_admission": set(),
    "_log": {"_events"},
    # the Redis backend, and the choice of backend
    "_redis_format": {"_events"},
    "_redis_writer": {"_events", "_limits", "_redis_format"},
    "_redis_reader": {"_events", "_limits", "_redis_format", "_registry"},
    "_redis": {"_events", "_job", "_limits", "_redis_format", "_redis_reader", "_redis_writer", "_registry"},
    "_backends": {"_events", "_limits", "_redis", "_redis_remote", "_registry"},
    # remote workers: the queue, a web process that enqueues, a worker that runs
    "_redis_queue": {"_events", "_limits", "_redis_format"},
    "_redis_remote": {"_events", "_job", "_limits", "_redis_format", "_redis_queue", "_redis_reader", "_registry"},
    "_queue_worker": {"_events", "_limits", "_redis", "_redis_format", "_redis_queue"},
}
CAPTURE_IMPORTS["__init__"] = set(CAPTURE_IMPORTS) - {"__init__"}

# A print's path through the product, hop by hop, as README's "From print() to the screen" names it.
PRINT_PATH = (
    "capture/_proxy.py",
    "capture/_lines.py",
    "capture/_bridge.py",
    "capture/_job.py",
    "capture/_registry.py",
    "api/chat.py",
    "api/sse.py",
)


def sources(part: str, root: Path = ROOT) -> Iterator[Path]:
    path = root / part
    yield from ([path] if path.is_file() else sorted(path.rglob("*.py")))


def _type_checking_only(tree: ast.AST) -> set[ast.AST]:
    """The import nodes under ``if TYPE_CHECKING:``."""
    found: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.body:
                found.update(ast.walk(child))
    return found


def imports(path: Path) -> Iterator[tuple[str, int]]:
    """Every absolute module a file imports, with its line (relative imports stay in their package)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, node.lineno
            for alias in node.names:
                yield f"{node.module}.{alias.name}", node.lineno


def own_imports(path: Path) -> Iterator[tuple[str, int]]:
    """The modules of its own package a file imports when it runs (``from . import _x``, ``from ._x import y``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    annotations_only = _type_checking_only(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level != 1 or node in annotations_only:
            continue
        if node.module:
            yield node.module.split(".")[0], node.lineno
        else:
            for alias in node.names:
                yield alias.name, node.lineno


def forbidden_imports(part: str, root: Path = ROOT) -> list[str]:
    return [
        f"{path.relative_to(root)}:{line} imports {module}"
        for path in sources(part, root)
        for module, line in imports(path)
        if module.split(".")[0] in FORBIDDEN[part]
    ]


def capture_imports_out_of_place(root: Path = ROOT) -> list[str]:
    broken = []
    for path in sources("capture", root):
        allowed = CAPTURE_IMPORTS.get(path.stem)
        if allowed is None:
            broken.append(f"{path.relative_to(root)} has no row in CAPTURE_IMPORTS")
            continue
        broken += [
            f"{path.relative_to(root)}:{line} imports {module}, which {path.stem} may not"
            for module, line in own_imports(path)
            if module not in allowed
        ]
    return broken


@pytest.mark.parametrize("part", list(FORBIDDEN))
def test_dependencies_point_one_way(part: str) -> None:
    broken = forbidden_imports(part)
    assert not broken, "\n".join(broken)


def test_capture_modules_import_only_what_their_place_allows() -> None:
    broken = capture_imports_out_of_place()
    assert not broken, "\n".join(broken)


def test_no_private_module_is_imported_from_outside_its_package() -> None:
    broken = []
    for part in (*PRODUCT, "bench", "examples"):
        for path in sources(part):
            own = path.relative_to(ROOT).parts[0]
            for module, line in imports(path):
                names = module.split(".")
                private = any(name.startswith("_") and not name.startswith("__") for name in names[1:2])
                if private and names[0] != own and names[0] in {"api", "capture", "pipeline"}:
                    broken.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not broken, "\n".join(broken)


def test_the_checks_fail_on_a_synthetic_forbidden_import(tmp_path: Path) -> None:
    """The rules above are able to fail: a copy of the tree with one bad import each is caught."""
    (tmp_path / "capture").mkdir()
    for path in sources("capture"):
        (tmp_path / "capture" / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    assert forbidden_imports("capture", tmp_path) == [] and capture_imports_out_of_place(tmp_path) == []
    lines = tmp_path / "capture" / "_lines.py"
    lines.write_text(lines.read_text(encoding="utf-8") + "\nimport starlette\nfrom ._job import Job\n",
                     encoding="utf-8")
    assert [entry.split(" ", 1)[1] for entry in forbidden_imports("capture", tmp_path)] == ["imports starlette"]
    assert [entry.split(" ", 1)[1] for entry in capture_imports_out_of_place(tmp_path)] == [
        "imports _job, which _lines may not"
    ]
    (tmp_path / "capture" / "_new.py").write_text("", encoding="utf-8")
    assert "capture/_new.py has no row in CAPTURE_IMPORTS" in capture_imports_out_of_place(tmp_path)


def test_the_readme_names_each_hop_of_a_print_once_in_order() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## From `print()` to the screen", 1)[1].split("\n## ", 1)[0]
    diagram = section.split("```", 2)[1]
    named = [match.group() for match in re.finditer(r"\b(?:capture|api)/_?\w+\.py\b", diagram)]
    assert named == list(PRINT_PATH), "the diagram names these modules, in this order"
