"""Keep the public surfaces honest, as httpx's ``tests/test_exported_members.py`` does.

- A package's ``__all__`` is exactly what its namespace holds publicly (its submodules aside).
- Every name a package exports is used outside it (from the package, or from the module that
  defines it): by the product's other parts, the tests, the examples or the benchmarks. Prose does
  not count (a name only the README mentions is dead).
- Every name a module of ``api`` or ``capture`` exports is used by another file. (``pipeline``'s
  modules are checked at the package's surface only.)

Uses are read from the imports and attribute accesses of every file (``ast``), not from its text,
so a name that only appears in a comment or a string is not a use.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import types
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "capture", "pipeline")
MODULES_CHECKED = ("api", "capture")
READ = ("api", "bench", "capture", "examples", "pipeline", "tests", "service.py", "job_worker.py")

Uses = dict[str, set[tuple[str, str]]]


def python_files(root: Path) -> Iterator[Path]:
    for top in READ:
        path = root / top
        yield from sorted(path.rglob("*.py")) if path.is_dir() else ([path] if path.exists() else [])


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def uses_in(source: str, here: str, is_package: bool) -> set[tuple[str, str]]:
    """The (module, name) pairs one file uses: ``from m import n`` and ``m.n`` after ``import m``."""
    package = here if is_package else here.rpartition(".")[0]
    used: set[tuple[str, str]] = set()
    aliases: dict[str, str] = {}  # a local name -> the module it stands for
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            for alias in node.names:
                used.add((origin, alias.name))
                aliases[alias.asname or alias.name] = f"{origin}.{alias.name}"  # a submodule, maybe
        elif isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name.partition(".")[0]] = (
                    alias.name if alias.asname else alias.name.partition(".")[0]
                )
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            used.add((aliases[node.value.id], node.attr))
    return used


def read_uses(root: Path) -> Uses:
    return {
        module_name(path, root): uses_in(path.read_text(encoding="utf-8"), module_name(path, root),
                                         path.name == "__init__.py")
        for path in python_files(root)
    }


@cache
def uses() -> Uses:
    return read_uses(ROOT)


def modules(package: str) -> Iterator[types.ModuleType]:
    root = importlib.import_module(package)
    yield root
    for info in pkgutil.iter_modules(root.__path__, f"{package}."):
        yield importlib.import_module(info.name)


def inside(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def unused_exports(
    module: str, exported: tuple[str, ...], package: str, found: Uses, origins: dict[str, str] | None = None
) -> list[str]:
    """The names ``module`` exports that no other file uses (a package's: no file outside it, through
    the package or through the module ``origins`` says defines the name)."""
    if module == package:
        users = [used for user, used in found.items() if not inside(user, package)]
    else:  # re-exported by the package's __init__ counts: the package's own check sees it used
        users = [used for user, used in found.items() if user != module]
    places = origins or {}
    return [
        f"{module}.{name}"
        for name in exported
        if not any((module, name) in used or (places.get(name, module), name) in used for used in users)
    ]


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_exactly_the_public_namespace(package: str) -> None:
    root = importlib.import_module(package)
    exported = list(root.__all__)
    assert len(exported) == len(set(exported)), "exported twice"
    public = {
        name for name, value in vars(root).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert set(exported) - public == set(), f"{package}.__all__ names what it does not hold"
    assert public - set(exported) == set(), f"{package} holds public names missing from its __all__"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_a_package_exports_is_used_outside_it(package: str) -> None:
    root = importlib.import_module(package)
    origins = {name: getattr(getattr(root, name), "__module__", package) for name in root.__all__}
    dead = unused_exports(package, tuple(root.__all__), package, uses(), origins)
    assert not dead, f"exported and used by no file outside {package}: {dead}"


@pytest.mark.parametrize("package", MODULES_CHECKED)
def test_every_name_a_module_exports_is_used_by_another_file(package: str) -> None:
    dead = [
        name
        for module in modules(package)
        if module.__name__ != package
        for name in unused_exports(module.__name__, tuple(getattr(module, "__all__", ())), package, uses())
    ]
    assert not dead, f"exported and used by no other file: {dead}"


def test_a_dead_name_fails_the_check(tmp_path: Path) -> None:
    """The checks are able to fail: a name exported and used nowhere else, or only in prose, is caught."""
    files = {
        "capture/_proxy.py": '__all__ = ("current_sink", "set_sink", "suspended")\n',
        "capture/__init__.py": 'from ._proxy import set_sink, suspended\n__all__ = ("set_sink", "suspended")\n',
        "tests/test_x.py": '"""current_sink and suspended, in prose."""\nimport capture\ncapture.set_sink(None)\n',
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    found = read_uses(tmp_path)
    exported = ("current_sink", "set_sink", "suspended")
    assert unused_exports("capture._proxy", exported, "capture", found) == ["capture._proxy.current_sink"]
    assert unused_exports("capture", ("set_sink", "suspended"), "capture", found) == ["capture.suspended"]
