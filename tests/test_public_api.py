"""The public API (sorted, importable, documented), the dependency rule, a quiet import."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_MODULES = (
    "metrics_core",
    "collectors",
    "exporters",
    "integrations",
    "metrics_core.registry",
    "metrics_core.testing",
    "metrics_core.workers",
)
OUR_PACKAGES = ("metrics_core", "collectors", "exporters", "integrations")


def _public_names(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    assert isinstance(names, list), f"{module_name} has no __all__ list"
    return names


def _exported(module_name: str) -> Iterator[tuple[str, object]]:
    module = importlib.import_module(module_name)
    for name in _public_names(module_name):
        yield f"{module_name}.{name}", getattr(module, name)


def _is_ours(obj: object) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module.split(".")[0] in OUR_PACKAGES


# -- __all__ ------------------------------------------------------------------------------------


def _isort_style(name: str) -> tuple[int, str]:
    """Ruff's RUF022 order: CONSTANTS, then Classes, then functions, each alphabetical."""
    if name.isupper():
        return (0, name)
    return (1, name) if name[:1].isupper() else (2, name)


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_all_is_sorted_and_unique(module_name: str) -> None:
    names = _public_names(module_name)
    assert names == sorted(set(names), key=_isort_style)


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_name_in_all_imports(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = [name for name in _public_names(module_name) if not hasattr(module, name)]
    assert missing == []
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import *", namespace)
    assert set(_public_names(module_name)) <= namespace.keys()


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_classes_and_functions_have_docstrings(module_name: str) -> None:
    undocumented = [
        qualified
        for qualified, obj in _exported(module_name)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not (obj.__doc__ or "").strip()
    ]
    assert undocumented == []


def _undocumented_members(cls: type) -> Iterator[str]:
    """Public methods and properties of ``cls`` and of its bases in our packages without a doc.

    Members inherited from builtins, the standard library or attrs are not ours to document,
    and dunders (attrs-generated or not) are skipped.
    """
    for klass in cls.__mro__:
        if not _is_ours(klass):
            continue
        for name, member in vars(klass).items():
            if name.startswith("_"):
                continue
            if isinstance(member, (staticmethod, classmethod)):
                function: object = member.__func__
            elif isinstance(member, property):
                function = member.fget
            elif inspect.isfunction(member):
                function = member
            else:  # fields, enum members, class constants
                continue
            if not (getattr(function, "__doc__", None) or "").strip():
                yield f"{klass.__module__}.{klass.__qualname__}.{name}"


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_methods_have_docstrings(module_name: str) -> None:
    undocumented = sorted(
        {
            member
            for _qualified, obj in _exported(module_name)
            if inspect.isclass(obj)
            for member in _undocumented_members(obj)
        }
    )
    assert undocumented == []


# -- the dependency rule ------------------------------------------------------------------------

FORBIDDEN = {
    "metrics_core": {"collectors", "exporters", "integrations"},
    "collectors": {"exporters", "integrations"},
    "exporters": {"collectors", "integrations"},
}


def _imported_packages(path: Path) -> set[str]:
    """Top-level names of the absolute imports of one module (relative ones stay inside)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_dependency_rule(package: str) -> None:
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules, f"no modules found under {package}/"
    violations = {
        f"{path.relative_to(ROOT).as_posix()} imports {name}"
        for path in modules
        for name in _imported_packages(path) & FORBIDDEN[package]
    }
    assert sorted(violations) == []


# -- importing metrics_core is quiet --------------------------------------------------------------

_PROBE = """
import importlib, json, pkgutil, sys
import metrics_core
from metrics_core import bus
modules = sorted(
    info.name for info in pkgutil.walk_packages(metrics_core.__path__, "metrics_core.")
)
for name in modules:
    importlib.import_module(name)
optional = ("prometheus_client", "opentelemetry", "datadog", "psutil", "pynvml")
print(json.dumps({
    "modules": modules,
    "optional": sorted(m for m in sys.modules if m.split(".")[0] in optional),
    "others": sorted(m for m in sys.modules if m.split(".")[0] in ("collectors", "exporters",
                                                                   "integrations")),
    "default_bus_created": bus._default_bus is not None,
}))
"""


@pytest.fixture(scope="module")
def import_probe() -> dict[str, object]:
    """What importing every module of metrics_core in a fresh interpreter left behind."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert isinstance(report, dict)
    return report


def test_the_probe_imported_metrics_core_modules(import_probe: dict[str, object]) -> None:
    modules = import_probe["modules"]
    assert isinstance(modules, list)
    assert {"metrics_core.bus", "metrics_core.facade", "metrics_core.testing"} <= set(modules)


def test_importing_metrics_core_imports_no_optional_dependency(
    import_probe: dict[str, object],
) -> None:
    assert import_probe["optional"] == []


def test_importing_metrics_core_imports_no_other_package(import_probe: dict[str, object]) -> None:
    assert import_probe["others"] == []


def test_importing_metrics_core_creates_no_default_bus(import_probe: dict[str, object]) -> None:
    assert import_probe["default_bus_created"] is False
