"""Test configuration: fixtures live in plugins under tests/fixtures (Indico style).

The suite runs on SQLite by default; with ``HAZARDHUB_TEST_DATABASE_URL`` and
``HAZARDHUB_TEST_REDIS_URL`` set it runs on PostgreSQL and real Redis (CI does both).
"""
pytest_plugins = [
    "tests.fixtures.app",
    "tests.fixtures.db",
    "tests.fixtures.factories",
    "tests.fixtures.browser",
]
