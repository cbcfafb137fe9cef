"""payments_app's own import rules, read from the source: services never import tasks; daraja never writes."""

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    """Every module a file imports, relative ones resolved against payments_app."""
    package = ".".join(path.relative_to(APP.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("path", sorted((APP / "services").glob("*.py")), ids=lambda p: p.name)
def test_services_never_import_a_tasks_module(path):
    assert not [m for m in _imports(path) if m == "tasks" or m.endswith(".tasks") or ".tasks." in m]


@pytest.mark.parametrize("path", sorted((APP / "daraja").glob("*.py")), ids=lambda p: p.name)
def test_the_gateway_never_touches_the_database(path):
    forbidden = ("django.db", "payments_app.models", "payments_app.services", "payments_app.tasks", "sessions_app")
    assert not [m for m in _imports(path) if m.startswith(forbidden)]
