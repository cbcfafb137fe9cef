"""The layout's import rules for sessions_app, read from the source (no Django needed)."""

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    """Absolute names of every module this file imports (relative imports resolved)."""
    package = ".".join(path.relative_to(APP.parent).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _sources(root: Path):
    return [path for path in root.rglob("*.py") if "tests" not in path.relative_to(APP).parts]


def test_sessions_app_imports_neither_payments_app_nor_notifications_app():
    offenders = {
        str(path.relative_to(APP)): name
        for path in _sources(APP)
        for name in _imports(path)
        if name.split(".")[0] in {"payments_app", "notifications_app"}
    }
    assert offenders == {}


def test_no_service_imports_a_tasks_module():
    offenders = {
        str(path.relative_to(APP)): name
        for path in _sources(APP / "services")
        for name in _imports(path)
        if "tasks" in name.split(".")
    }
    assert offenders == {}


def test_the_resolver_sees_relative_imports():
    names = _imports(APP / "services" / "session_payments.py")
    assert "sessions_app.services.sessions._transition" in names
    assert "sessions_app.models.Session" in names
