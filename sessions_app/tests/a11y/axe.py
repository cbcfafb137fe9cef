"""axe-core in the real-browser tests: every page state a browser test visits is checked, any violation fails.

axe-core comes from npm, pinned in package.json / package-lock.json (`make test` runs `npm ci` first). It is
evaluated in the page through the DevTools protocol, which the page's Content-Security-Policy
(script-src 'self') does not govern, so the page under test keeps its real CSP.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

AXE_PATH = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0, 2.1 and 2.2 A and AA, plus axe's best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def _source() -> str:
    if not AXE_PATH.exists():
        pytest.fail(
            f"axe-core is not installed ({AXE_PATH} is missing). Run `npm ci` (make test does it).", pytrace=False
        )
    return AXE_PATH.read_text()


def axe_violations(page) -> list[dict]:
    """axe's violations on the page as it is now: [{id, impact, help, targets}]."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(_source())
    return page.evaluate(
        """async (tags) => {
            const result = await window.axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.map(n => n.target.join(' ')).slice(0, 5),
            }));
        }""",
        AXE_TAGS,
    )


def assert_no_axe_violations(page, state: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"axe-core: {len(violations)} violation(s) on {state} ({page.url}): {violations}"
