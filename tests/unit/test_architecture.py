"""The layout is the architecture: a worker imports only ``shared`` and libraries."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"
WORKERS = sorted(p.name for p in SERVICES.iterdir() if (p / "bootstrap.py").exists())


def imported_modules(package: Path) -> set[str]:
    found: set[str] = set()
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
    return found


@pytest.mark.parametrize("worker", WORKERS)
def test_a_worker_never_imports_another_worker_or_the_application(worker: str) -> None:
    forbidden = {
        module
        for module in imported_modules(SERVICES / worker)
        if module.startswith("orderflow")
        or (module.startswith("services.") and not module.startswith(f"services.{worker}"))
    }
    assert forbidden == set()


def test_shared_never_imports_a_worker() -> None:
    shared = SERVICES.parent / "shared"
    assert {m for m in imported_modules(shared) if m.startswith(("services", "orderflow"))} == set()


def test_every_worker_is_in_the_registry() -> None:
    from orderflow.cluster.registry import NAMES, bootstrap_module

    assert sorted(NAMES) == WORKERS
    assert [bootstrap_module(name).NAME for name in NAMES] == NAMES


def test_the_runtime_shares_behaviour_by_composition_not_inheritance() -> None:
    """Only errors (and the contracts) extend a class of ``shared``: a runtime part that needs
    another's behaviour holds it."""
    import importlib
    import inspect

    shared = SERVICES.parent / "shared"
    inherited = set()
    for source in sorted(shared.glob("*.py")):
        module = importlib.import_module(f"shared.{source.stem}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or issubclass(cls, BaseException):
                continue
            inherited |= {
                f"{name}({base.__name__})"
                for base in cls.__mro__[1:]
                if base.__module__.startswith("shared.")
            }
    assert inherited == set()


def test_no_module_in_shared_is_over_300_lines() -> None:
    shared = SERVICES.parent / "shared"
    long = {p.name: n for p in shared.rglob("*.py") if (n := len(p.read_text().splitlines())) > 300}
    assert long == {}


def test_no_module_of_the_orderflow_tools_is_over_400_lines() -> None:
    tools = SERVICES.parent / "orderflow"
    long = {str(p): n for p in tools.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def test_unit_tests_call_handlers_through_the_bootstrap() -> None:
    """A handler function is never imported by a unit test, so none is called with dependencies
    of the test's choosing: tests go through ``service.handlers``, as the runtime does."""
    unit_tests = Path(__file__).resolve().parent
    inspects_handlers = {unit_tests / "test_publishers.py"}  # checks they are watched, calls none
    imported = {
        f"{source.relative_to(unit_tests)}: {node.module}.{alias.name}"
        for source in unit_tests.rglob("*.py")
        if source not in inspects_handlers
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("services.")
        for alias in node.names
        if alias.name.startswith("on_") or alias.name == "handlers"
    }
    assert imported == set()
