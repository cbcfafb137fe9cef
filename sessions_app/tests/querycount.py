"""Query counts at two data sizes: a page or job that reads per row or over whole history fails here.

Times are never asserted (the bench measures them); what is asserted is that the same page runs the
same queries with 5 rows and with 50, and, for the admin's lists, none of the statements that scan a
whole table whatever the page shows (DISTINCT for filters and date drill-downs, MIN/MAX, an
unbounded COUNT).
"""

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext

SMALL, LARGE = 5, 50

WHOLE_TABLE = [
    (re.compile(r"\bDISTINCT\b", re.I), "a DISTINCT (a list filter or date_hierarchy over every row)"),
    (re.compile(r"\b(MIN|MAX)\s*\(", re.I), "a MIN/MAX (date_hierarchy's bounds)"),
]
COUNT = re.compile(r"SELECT\s+COUNT\(\*\)", re.I)


def queries_of(func) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        func()
    return [q["sql"] for q in ctx.captured_queries]


def assert_no_whole_table_scan(sqls: list[str]) -> None:
    for sql in sqls:
        for pattern, what in WHOLE_TABLE:
            assert not pattern.search(sql), f"{what}: {sql[:300]}"
        if COUNT.search(sql):
            assert re.search(r"\bLIMIT\s+\d+", sql, re.I), f"an unbounded COUNT(*): {sql[:300]}"


def assert_flat(make_rows, measure, *, whole_table_check: bool = False) -> list[str]:
    """make_rows(n) adds n rows; measure() runs the page. Same number of queries at SMALL and LARGE rows."""
    make_rows(SMALL)
    small = queries_of(measure)
    make_rows(LARGE - SMALL)
    large = queries_of(measure)
    assert len(large) == len(small), (
        f"{len(small)} queries with {SMALL} rows, {len(large)} with {LARGE}:\n" + "\n".join(q[:200] for q in large)
    )
    if whole_table_check:
        assert_no_whole_table_scan(large)
    return large
