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
