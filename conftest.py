"""Root conftest: registers the shared fixtures from tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.browser",
    "tests.fixtures.broker",
    "tests.fixtures.browser",
    "tests.fixtures.events",
    "tests.fixtures.stores",
    "tests.fixtures.worker",
]
