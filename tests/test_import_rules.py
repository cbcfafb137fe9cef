"""The import rules of docs/design.md#apps-and-dependencies, checked on the source with ``ast``.

1. sessions_app imports neither payments_app nor notifications_app (they listen to its signal).
2. payments_app does not import notifications_app.
3. A services module (a file under a ``services/`` package, or a ``services.py``) imports no ``tasks``
   module of any app: services queue tasks by name through a dispatch module, on commit. The same holds
   for selectors (``selectors/``, ``selectors.py``) and for the dispatch modules themselves.
4. payments_app/daraja/ imports nothing that writes: ``django.db`` and any app's models, services,
   tasks or dispatch; nor anything of the other apps. The gateway returns results; services apply them.

Test code (any ``tests/`` directory) is exempt. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = ("sessions_app", "payments_app", "notifications_app")
WRITERS = ("models", "services", "tasks", "dispatch")

RULE_SESSIONS = "sessions_app imports neither payments_app nor notifications_app"
RULE_PAYMENTS = "payments_app does not import notifications_app"
RULE_SERVICES = "services, selectors and dispatch never import a tasks module (queue by name through dispatch)"
RULE_DARAJA = (
    "payments_app/daraja imports nothing that writes (django.db, models, services, tasks, dispatch) "
    "and nothing of sessions_app or notifications_app"
)
NO_TASKS_PACKAGES = ("services", "selectors")
NO_TASKS_MODULES = ("services.py", "selectors.py", "dispatch.py")


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    rule: str
    module: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: imports {self.module}"


def imported_modules(source: str, *, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, dotted name) for every import in ``source``; relative imports resolved against ``module``.

    ``from a import b`` yields both ``a`` and ``a.b``: ``b`` may be a submodule (``from . import tasks``).
    """
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                base = ".".join(parts[: len(parts) - (node.level - 1)])
            else:
                base = ""
            name = ".".join(part for part in (base, node.module or "") if part)
            if name:
                found.append((node.lineno, name))
            found.extend((node.lineno, f"{name}.{alias.name}" if name else alias.name) for alias in node.names)
    return found


def _top(name: str) -> str:
    return name.split(".")[0]


def _gateway_may_not_import(name: str) -> bool:
    parts = name.split(".")
    if name == "django.db" or name.startswith("django.db."):
        return True
    if parts[0] in ("sessions_app", "notifications_app"):
        return True
    return parts[0] in APPS and any(part in WRITERS for part in parts[1:])


def check_source(source: str, path: str) -> list[Violation]:
    """Every rule ``source``, the text of the file at ``path`` (relative to the repo root), breaks."""
    rel = Path(path)
    parts = rel.with_suffix("").parts
    if not parts or parts[0] not in APPS or "tests" in rel.parts:
        return []
    is_package = rel.name == "__init__.py"
    module = ".".join(parts[:-1] if is_package else parts)
    app = parts[0]
    no_tasks = rel.name in NO_TASKS_MODULES or any(part in NO_TASKS_PACKAGES for part in rel.parts[:-1])
    in_daraja = rel.parts[:2] == ("payments_app", "daraja")

    violations: dict[tuple[int, str], Violation] = {}  # one per line and rule: the first name that breaks it
    for line, name in imported_modules(source, module=module, is_package=is_package):
        broken = [
            (app == "sessions_app" and _top(name) in ("payments_app", "notifications_app"), RULE_SESSIONS),
            (app == "payments_app" and _top(name) == "notifications_app", RULE_PAYMENTS),
            (no_tasks and "tasks" in name.split("."), RULE_SERVICES),
            (in_daraja and _gateway_may_not_import(name), RULE_DARAJA),
        ]
        for hit, rule in broken:
            if hit:
                violations.setdefault((line, rule), Violation(path, line, rule, name))
    return list(violations.values())


def check_tree(root: Path = ROOT) -> list[Violation]:
    violations = []
    for app in APPS:
        for file in sorted((root / app).rglob("*.py")):
            rel = file.relative_to(root)
            violations.extend(check_source(file.read_text(encoding="utf-8"), rel.as_posix()))
    return violations


# --- The rules hold on the code -------------------------------------------------------------


def test_the_code_keeps_the_import_rules():
    violations = check_tree()
    assert not violations, "Import rules broken (docs/design.md#apps-and-dependencies):\n" + "\n".join(
        str(v) for v in violations
    )


def test_the_checker_reads_every_app():
    for app in APPS:
        assert list((ROOT / app).rglob("*.py")), f"{app} has no Python files: is ROOT right?"
    assert (ROOT / "payments_app" / "daraja").is_dir()


# --- The checker catches what it should ----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "source", "rule", "line", "module"),
    [
        (
            "sessions_app/views/client.py",
            "import os\nfrom payments_app.models import X\n",
            RULE_SESSIONS,
            2,
            "payments_app.models",
        ),
        (
            "sessions_app/services/sessions.py",
            "def f():\n    import notifications_app.services\n",
            RULE_SESSIONS,
            2,
            "notifications_app.services",
        ),
        (
            "payments_app/services/settle.py",
            "from notifications_app import dispatch\n",
            RULE_PAYMENTS,
            1,
            "notifications_app",
        ),
        ("payments_app/services/intake.py", "from .. import tasks\n", RULE_SERVICES, 1, "payments_app.tasks"),
        (
            "notifications_app/services.py",
            "\nfrom .tasks import send_notification\n",
            RULE_SERVICES,
            2,
            "notifications_app.tasks",
        ),
        (
            "sessions_app/services/__init__.py",
            "from sessions_app.tasks import expire\n",
            RULE_SERVICES,
            1,
            "sessions_app.tasks",
        ),
        ("payments_app/daraja/client.py", "from django.db import transaction\n", RULE_DARAJA, 1, "django.db"),
        (
            "payments_app/daraja/parse.py",
            "from ..models import PaymentAttempt\n",
            RULE_DARAJA,
            1,
            "payments_app.models",
        ),
        (
            "payments_app/daraja/__init__.py",
            "from payments_app import services\n",
            RULE_DARAJA,
            1,
            "payments_app.services",
        ),
        (
            "payments_app/daraja/client.py",
            "from sessions_app.phone import mask\n",
            RULE_DARAJA,
            1,
            "sessions_app.phone",
        ),
        (
            "sessions_app/selectors/sessions.py",
            "from sessions_app import tasks\n",
            RULE_SERVICES,
            1,
            "sessions_app.tasks",
        ),
        ("notifications_app/dispatch.py", "from . import tasks\n", RULE_SERVICES, 1, "notifications_app.tasks"),
    ],
)
def test_the_checker_catches_a_violation(path, source, rule, line, module):
    first = next(v for v in check_source(source, path) if v.rule == rule)
    assert (first.path, first.line, first.module) == (path, line, module)
    assert str(first) == f"{path}:{line}: {rule}: imports {module}"


@pytest.mark.parametrize(
    ("path", "source"),
    [
        # Allowed directions: the other apps build on sessions_app.
        ("payments_app/services/settle.py", "from sessions_app import services as session_services\n"),
        ("notifications_app/receivers.py", "from sessions_app.signals import session_changed\n"),
        # Services queue through dispatch; tasks import services, not the other way round.
        ("payments_app/services/intake.py", "from .. import dispatch\nfrom celery import shared_task\n"),
        ("payments_app/tasks.py", "from . import services\n"),
        # The gateway may use settings, the cache and its own modules.
        ("payments_app/daraja/client.py", "from django.core.cache import cache\nfrom .parse import StkResult\n"),
        # Test code is exempt.
        ("sessions_app/tests/test_flow.py", "from payments_app.models import PaymentAttempt\n"),
        ("payments_app/tests/services/test_x.py", "from payments_app import tasks\n"),
        # Not one of the apps.
        ("booking_project/celery.py", "from notifications_app import tasks\n"),
    ],
)
def test_the_checker_allows_what_the_rules_allow(path, source):
    assert check_source(source, path) == []


def test_a_violation_names_file_line_and_rule():
    source = '"""Doc."""\n\nfrom django.conf import settings\nfrom .tasks import poll_payment\n'
    (violation,) = check_source(source, "payments_app/services/common.py")
    assert str(violation) == f"payments_app/services/common.py:4: {RULE_SERVICES}: imports payments_app.services.tasks"


def test_relative_imports_resolve_against_the_package():
    found = {name for _, name in imported_modules("from . import a\nfrom ..b import c\n", module="x.y.z")}
    assert found == {"x.y", "x.y.a", "x.b", "x.b.c"}
    found = {name for _, name in imported_modules("from . import a\n", module="x.y", is_package=True)}
    assert found == {"x.y", "x.y.a"}


def test_the_tree_walk_finds_a_violation_and_skips_test_code(tmp_path):
    (tmp_path / "sessions_app" / "services").mkdir(parents=True)
    (tmp_path / "sessions_app" / "tests").mkdir()
    (tmp_path / "sessions_app" / "services" / "sessions.py").write_text("x = 1\nfrom payments_app import services\n")
    (tmp_path / "sessions_app" / "tests" / "test_pay.py").write_text("from payments_app import services\n")
    for app in APPS[1:]:
        (tmp_path / app).mkdir()
    assert [str(v) for v in check_tree(tmp_path)] == [
        f"sessions_app/services/sessions.py:2: {RULE_SESSIONS}: imports payments_app"
    ]
