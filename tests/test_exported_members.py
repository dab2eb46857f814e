"""Keep the public surfaces honest (httpx's ``test_exported_members`` is the model).

Every name a package exports in ``__all__`` exists, is used by someone outside the
package (the product's other parts, the tests, the examples or the README), and
the package exports nothing twice.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "capture", "pipeline")


def outside_text(package: str) -> str:
    """Everything written outside ``package``: code, tests, examples, the README."""
    parts = []
    for path in ROOT.glob("**/*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in (package, ".venv", "data", "build") or relative.parts[0].startswith("."):
            continue
        if relative.name == "test_exported_members.py":
            continue
        parts.append(path.read_text(encoding="utf-8"))
    parts.append((ROOT / "README.md").read_text(encoding="utf-8"))
    return "\n".join(parts)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_exists_and_is_used_outside_the_package(package: str) -> None:
    module = importlib.import_module(package)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), "exported twice"
    missing = [name for name in exported if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ names what it does not have: {missing}"
    text = outside_text(package)
    unused = [name for name in exported if not re.search(rf"\b{re.escape(name)}\b", text)]
    assert not unused, f"{package} exports names nobody outside it uses: {unused}"
