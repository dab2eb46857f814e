"""The project's layering, checked from the imports (a picture in the README goes stale; this does not).

``service → api → capture, pipeline``: ``api`` never imports ``service``; ``capture``
knows nothing of HTTP or courses; ``pipeline`` nothing of HTTP; nothing in the product
imports ``bench`` or ``tests``; and nothing outside a package imports its private modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("service.py", "api", "capture", "pipeline")
HTTP = {"starlette", "sse_starlette", "uvicorn", "httptools", "prometheus_client"}

# Which top-level names each part of the product may not import.
FORBIDDEN = {
    "api": {"service", "bench", "tests"},
    "capture": {"service", "api", "pipeline", "bench", "tests", *HTTP},
    "pipeline": {"service", "api", "bench", "tests", *HTTP},
    "service.py": {"bench", "tests"},
}


def sources(part: str) -> Iterator[Path]:
    path = ROOT / part
    yield from ([path] if path.is_file() else sorted(path.rglob("*.py")))


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


@pytest.mark.parametrize("part", list(FORBIDDEN))
def test_dependencies_point_one_way(part: str) -> None:
    broken = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sources(part)
        for module, line in imports(path)
        if module.split(".")[0] in FORBIDDEN[part]
    ]
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


def test_the_checks_see_the_imports() -> None:
    """A mutation check: the rules above would catch a forbidden import."""
    found = dict(imports(ROOT / "service.py"))
    assert "api" in found and "capture" in found
