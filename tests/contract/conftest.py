"""A live server over the test database, with a small seeded store and its owner's token."""

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from segments.models import Role, Store
from tests.fixtures.factories import make_user

CONTRACT_STORE = "contract"


@pytest.fixture
def seeded_store(transactional_db):
    """A small demo store (customers, orders, subscriptions, segments) and one owner."""
    call_command("seed_demo", customers=25, store=CONTRACT_STORE, name="Contract Coffee")
    store = Store.objects.get(slug=CONTRACT_STORE)
    owner = make_user(store, Role.OWNER, username="contract-owner")
    token, _ = Token.objects.get_or_create(user=owner)
    return store, token.key
