"""Test configuration: fixtures live in plugins under tests/fixtures (Indico style).

The suite runs on SQLite by default; with ``HAZARDHUB_TEST_DATABASE_URL`` and
``HAZARDHUB_TEST_REDIS_URL`` set it runs on PostgreSQL and real Redis (CI does both).
"""
pytest_plugins = [
    "tests.fixtures.app",
    "tests.fixtures.db",
    "tests.fixtures.factories",
    "tests.fixtures.browser",
    "tests.fixtures.chain",
    "tests.fixtures.providers",
    "tests.fixtures.demo",
]


def pytest_collection_modifyitems(config, items):
    """``postgres_only`` tests (row locks, real worker processes, pg_dump) run in the PostgreSQL
    pass; the SQLite pass deselects them (reported as deselected, never skipped). CI runs both.
    Benchmarks (``bench``) run only when asked for with ``-m bench``."""
    import os

    on_postgres = (os.environ.get("HAZARDHUB_TEST_DATABASE_URL") or "").startswith("postgresql")
    benchmarks = "bench" in (config.getoption("markexpr") or "")
    keep, drop = [], []
    for item in items:
        unwanted = (item.get_closest_marker("postgres_only") and not on_postgres) or \
            (item.get_closest_marker("bench") and not benchmarks)
        (drop if unwanted else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
