import pytest

from rewards.actions import create_incentive


@pytest.fixture
def discount(store):
    return create_incentive(
        store, name="10% off", kind="discount", params={"discount_type": "percent", "value": "10"}
    )


@pytest.fixture
def gift(store):
    return create_incentive(
        store,
        name="Free mug",
        kind="free_gift",
        params={"product_id": "77", "title": "Mug", "price": "8.00"},
        expires_in_days=30,
    )


@pytest.fixture
def cross_sell(store):
    return create_incentive(
        store,
        name="Try the grinder",
        kind="cross_sell",
        params={
            "product_id": "88",
            "variant_id": "880",
            "title": "Grinder",
            "price": "40.00",
            "discount_type": "percent",
            "discount_value": "25",
        },
    )


@pytest.fixture
def eager_tasks():
    """Run the tasks that receivers enqueue in-process (the worker tests cover the broker)."""
    from config.celery import app

    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


@pytest.fixture
def ingest(django_capture_on_commit_callbacks, eager_tasks):
    """Return a function that processes the pending inbound events and what they announce."""
    from segments.ingest.actions import process_batch

    def run() -> int:
        handled = 0
        while True:
            with django_capture_on_commit_callbacks(execute=True):
                done = process_batch()
            handled += done
            if not done:
                return handled

    return run
