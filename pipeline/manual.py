"""Fetch the Python manual's reStructuredText sources from Debian's ``python3.X-doc`` package.

    python -m pipeline.manual [--dir data/python-manual] [--force]

Why this source: the manual is not on PyPI, and python.org's archives are not a
package registry.  Debian's ``python3.X-doc`` ships the manual's own reST
sources (``html/_sources/*.rst.txt``), the markup Sphinx builds the HTML from:
directives keep every function's qualified name and signature
(``.. function:: create_task(coro, *, name=None, context=None)``), code blocks
and tables are explicit, and nothing has to be scraped back out of HTML.
``apt-get download`` needs no root, and the ``.deb`` is unpacked here (an ``ar``
archive holding a tar), so nothing is installed system-wide.

The version is the running interpreter's (``python3.11-doc`` for 3.11), else the
nearest one the package lists offer.  Only the tutorial, the HOWTOs, the library
reference, the language reference and the glossary are kept (about 8 MB).  When the manual
cannot be had (no apt, no network), this says so and exits 0: the knowledge base
then falls back to the documentation that ships with the interpreter.
"""

from __future__ import annotations

import argparse
import io
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ("PARTS", "Manual", "default_dir", "fetch", "installed")

# The project's own data/, wherever the server was started from (not the current directory).
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "data" / "python-manual"
PARTS = ("tutorial", "howto", "library", "reference")
_SOURCES = "html/_sources/"
_SINGLE_PAGES = ("glossary.rst.txt",)  # the glossary's short definitions are what "what is X?" needs
_STAMP = "SOURCE"  # written last: a folder without it is an interrupted fetch


@dataclass(frozen=True, slots=True)
class Manual:
    root: Path  # holds tutorial/, howto/, library/, reference/ of *.rst.txt
    package: str  # "python3.11-doc"
    version: str  # the package's version, "3.11.2-6+deb12u9"

    @property
    def python_version(self) -> str:
        """The Python version the manual documents, "3.11.2"."""
        return self.version.split("-")[0].split("+")[0].split("~")[0]

    def describe(self) -> str:
        return f"the Python {self.python_version} manual ({self.package} {self.version})"


def default_dir() -> Path:
    """Where the manual lives: ``$PYTHON_MANUAL``, else the project's ``data/python-manual``."""
    return Path(os.environ.get("PYTHON_MANUAL") or DEFAULT_DIR)


def installed(directory: Path | None = None) -> Manual | None:
    """The manual fetched earlier into ``directory``, if a complete one is there."""
    root = directory if directory is not None else default_dir()
    try:
        package, version = (root / _STAMP).read_text(encoding="utf-8").split()[:2]
    except (OSError, ValueError):
        return None
    if not all((root / part).is_dir() for part in (*PARTS, "glossary")):
        return None
    return Manual(root, package, version)


def _candidates() -> list[str]:
    """Package names to try: this Python's minor version first, then the nearest others."""
    major, minor = sys.version_info[:2]
    nearby = sorted(range(max(6, minor - 6), minor + 7), key=lambda m: (abs(m - minor), -m))
    return [f"python{major}.{m}-doc" for m in nearby]


def _available(package: str) -> str | None:
    """The candidate version apt would download, or None when the lists do not offer it."""
    try:
        result = subprocess.run(
            ["apt-cache", "policy", package], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in result.stdout.splitlines():
        key, _, value = line.strip().partition(":")
        if key == "Candidate" and value.strip() not in ("", "(none)"):
            return value.strip()
    return None


def _pick(say: Callable[[str], None]) -> tuple[str, str] | None:
    for package in _candidates():
        version = _available(package)
        if version:
            return package, version
    if os.geteuid() == 0 and shutil.which("apt-get"):
        # A fresh machine (or container) often has empty package lists; root can fill them.
        say("No python3.X-doc in the package lists; running apt-get update …")
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=600, check=False)
        for package in _candidates():
            version = _available(package)
            if version:
                return package, version
    return None


def _data_tar(deb: Path) -> tarfile.TarFile:
    """The ``data.tar.*`` member of a ``.deb`` (an ``ar`` archive), opened for reading."""
    blob = deb.read_bytes()
    if not blob.startswith(b"!<arch>\n"):
        raise ValueError(f"{deb.name} is not a Debian package")
    offset = 8
    while offset + 60 <= len(blob):
        header = blob[offset : offset + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = blob[offset + 60 : offset + 60 + size]
        offset += 60 + size + (size % 2)
        if name.startswith("data.tar"):
            if name.endswith(".xz"):
                return tarfile.open(fileobj=io.BytesIO(lzma.decompress(body)))
            if name.endswith((".gz", ".bz2")) or name == "data.tar":
                return tarfile.open(fileobj=io.BytesIO(body))
            raise ValueError(f"{deb.name}: {name} is compressed in a way this reader does not know")
    raise ValueError(f"{deb.name} has no data archive")


def _unpack(deb: Path, target: Path) -> int:
    """Extract the four parts' ``.rst.txt`` files into ``target``; returns how many."""
    count = 0
    with _data_tar(deb) as archive:
        for member in archive.getmembers():
            _, marker, relative = member.name.partition(_SOURCES)
            if not marker or not member.isfile() or not relative.endswith(".rst.txt"):
                continue
            part, _, rest = relative.partition("/")
            if relative in _SINGLE_PAGES:
                part, rest = relative.removesuffix(".rst.txt"), relative
            elif part not in PARTS or not rest or ".." in Path(relative).parts:
                continue
            extracted = archive.extractfile(member)
            if extracted is None:
                continue
            destination = target / (relative if relative not in _SINGLE_PAGES else f"{part}/{rest}")
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(extracted.read())
            count += 1
    return count


def _print(line: str) -> None:
    print(line, flush=True)


def fetch(directory: Path | None = None, *, force: bool = False, say: Callable[[str], None] = _print) -> Manual | None:
    """Download and unpack the manual into ``directory`` unless it is there; None if it cannot be had."""
    root = directory if directory is not None else default_dir()
    if not force and (manual := installed(root)) is not None:
        say(f"{manual.describe()} is already in {root}.")
        return manual
    if not shutil.which("apt-get") or not shutil.which("apt-cache"):
        say("No apt-get here: the Python manual cannot be fetched; the knowledge base will use the "
            "documentation that ships with the interpreter.")
        return None
    picked = _pick(say)
    if picked is None:
        say("No python3.X-doc package is available: the knowledge base will use the documentation "
            "that ships with the interpreter.")
        return None
    package, version = picked
    say(f"Fetching {package} {version} …")
    with tempfile.TemporaryDirectory(prefix="manual-") as temporary:
        work = Path(temporary)
        command = ["apt-get", "download", "-q", f"{package}={version}"]
        if os.geteuid() == 0:
            command[1:1] = ["-o", "APT::Sandbox::User=root"]  # the private temp dir is root's alone
        result = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=900, check=False)
        debs = sorted(work.glob("*.deb"))
        if result.returncode != 0 or not debs:
            reason = (result.stderr.strip().splitlines() or ["no package downloaded"])[-1]
            say(f"Could not download {package}: {reason}. The knowledge base will use the documentation "
                "that ships with the interpreter.")
            return None
        staging = work / "unpacked"
        count = _unpack(debs[0], staging)
        if count == 0:
            say(f"{package} holds no reST sources; the knowledge base will use the built-in documentation.")
            return None
        (staging / _STAMP).write_text(f"{package} {version}\n", encoding="utf-8")
        if root.exists():
            shutil.rmtree(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), root)
    manual = installed(root)
    if manual is not None:
        say(f"Unpacked {count} pages of {manual.describe()} into {root}.")
    return manual


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.manual", description="Fetch the Python manual for the knowledge base."
    )
    parser.add_argument("--dir", type=Path, default=None, help=f"where to unpack (default: {default_dir()})")
    parser.add_argument("--force", action="store_true", help="fetch again even if a manual is there")
    args = parser.parse_args(argv)
    fetch(args.dir, force=args.force)
    return 0  # no manual is not an error: the built-in documentation is the fallback


if __name__ == "__main__":
    raise SystemExit(main())
