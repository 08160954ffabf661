"""Every ```python block of README.md and docs/*.md runs and passes ``mypy --strict``.

Blocks are complete snippets: each runs alone, in a fresh namespace, with the
process-wide default bus reset before and after. All blocks are type-checked by one
mypy run (over one file per block, from the repository root so that the packages
resolve); each block's test then asserts that mypy said nothing about its file.
"""

from __future__ import annotations

import linecache
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from metrics_core import bus as bus_module

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# An opening fence of a runnable block; ```text and ```py-fragment are not run.
_OPENING = re.compile(r"^(?P<indent>[ \t]*)```(?:python|python3|py)[ \t]*$")
_CLOSING = re.compile(r"^[ \t]*```[ \t]*$")


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """``(line number, source)`` of every runnable block of ``path``, in order."""
    blocks: list[tuple[int, str]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    start: int | None = None
    indent = ""
    body: list[str] = []
    for number, line in enumerate(lines, start=1):
        if start is None:
            opening = _OPENING.match(line)
            if opening is not None:
                start, indent, body = number, opening["indent"], []
        elif _CLOSING.match(line):
            blocks.append((start, "\n".join(body) + "\n"))
            start = None
        else:
            body.append(line[len(indent) :] if line.startswith(indent) else line)
    if start is not None:
        raise AssertionError(f"{path.name}:{start}: unclosed ```python block")
    return blocks


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


BLOCKS = [
    pytest.param(path, index, line, source, id=f"{_relative(path)}-{index}")
    for path in DOCUMENTS
    for index, (line, source) in enumerate(python_blocks(path))
]


def _module_name(path: Path, index: int) -> str:
    stem = re.sub(r"\W", "_", path.stem.lower())
    return f"docblock_{stem}_{index}"


@pytest.fixture
def default_bus_reset() -> Iterator[None]:
    bus_module.reset_default_bus()
    yield
    bus_module.reset_default_bus()


def test_the_documents_have_examples() -> None:
    counts = {_relative(path): len(python_blocks(path)) for path in DOCUMENTS}
    assert counts["README.md"] >= 1, counts
    assert sum(counts.values()) >= len(DOCUMENTS), counts


@pytest.mark.parametrize(("path", "index", "line", "source"), BLOCKS)
@pytest.mark.usefixtures("default_bus_reset")
def test_block_runs(path: Path, index: int, line: int, source: str) -> None:
    sigterm_before = signal.getsignal(signal.SIGTERM)
    filename = f"{_relative(path)}:{line} (block {index})"
    # Lets tracebacks show the failing line of the block.
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    code = compile(source, filename, "exec")
    namespace: dict[str, object] = {"__name__": _module_name(path, index)}
    exec(code, namespace)
    assert signal.getsignal(signal.SIGTERM) == sigterm_before, "the block left a SIGTERM handler"
    assert bus_module._default_bus is None, "the block used the default bus: pass an EventBus()"


@pytest.fixture(scope="module")
def mypy_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, dict[str, Path]]:
    """Type-check every block in one mypy run: (exit status, output, module -> file)."""
    folder = tmp_path_factory.mktemp("doc_blocks")
    files: dict[str, Path] = {}
    for param in BLOCKS:
        path, index, _line, source = param.values
        assert isinstance(path, Path) and isinstance(index, int) and isinstance(source, str)
        name = _module_name(path, index)
        files[name] = folder / f"{name}.py"
        files[name].write_text(source, encoding="utf-8")
    command = [sys.executable, "-m", "mypy", "--strict", "--no-error-summary"]
    result = subprocess.run(
        [*command, *map(str, files.values())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr, files


def test_mypy_is_clean_over_all_blocks(mypy_report: tuple[int, str, dict[str, Path]]) -> None:
    status, output, _files = mypy_report
    assert (status, output) == (0, "")


@pytest.mark.parametrize(("path", "index", "line", "source"), BLOCKS)
def test_block_type_checks(
    mypy_report: tuple[int, str, dict[str, Path]],
    path: Path,
    index: int,
    line: int,
    source: str,
) -> None:
    _status, output, files = mypy_report
    block_file = str(files[_module_name(path, index)])
    complaints = [entry for entry in output.splitlines() if entry.startswith(block_file)]
    # Report positions in the document, not in the temporary file.
    located = [
        re.sub(
            rf"^{re.escape(block_file)}:(\d+)",
            lambda match: f"{_relative(path)}:{line + int(match[1])}",
            entry,
        )
        for entry in complaints
    ]
    assert located == [], "\n".join(located)
