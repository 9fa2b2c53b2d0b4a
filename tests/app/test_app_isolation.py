"""Tenant isolation for EVERY page of the merchant app (``/app/``), discovered from the URL map.

Each pattern included under ``app/`` is exercised: a merchant of store A (an owner, so roles never
answer first) addressing store B's objects gets 404 with GET and POST, exactly like a missing id;
signed out, every page leads to the login page. A pattern with a URL argument that has no factory
below fails with a message saying what to add.
"""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from segments.models import Role
from tests.fixtures import factories as f


def _experience(store):
    from experiences.actions import create_experience

    return create_experience(
        store, name=f"Experience {f.make_customer(store).pk}", kind="reward_strategy"
    ).pk


def _segment(store):
    from tests.experiences.helpers import static_segment

    return static_segment(store, f"Segment {f.make_customer(store).pk}").pk


def _import(store, segment_id):
    from segments import csv_import
    from segments.models import Segment

    segment = Segment.objects.get(pk=segment_id)
    return csv_import.start_import(segment, content=b"email\na@example.com\n").pk


def _incentive(store):
    from rewards.actions import create_incentive

    return create_incentive(
        store, name="Gift", kind="free_gift", params={"product_id": "1", "title": "Mug"}
    ).pk


def _grant(store):
    from decimal import Decimal

    from rewards.actions import grant_reward

    customer = f.make_customer(store)
    return grant_reward(
        store=store, customer=customer, source_key=f"iso:{customer.pk}", kind="credit",
        amount=Decimal("5.00"),
    ).pk  # fmt: skip


# URL argument -> function(store, already built arguments) returning an id in that store.
# Add a page with a new argument? Add its factory here (tests/app/test_app_isolation.py).
ARGUMENT_FACTORIES = {
    "experience_id": lambda store, built: _experience(store),
    "segment_id": lambda store, built: _segment(store),
    "customer_id": lambda store, built: f.make_customer(store).pk,
    "import_id": lambda store, built: _import(store, built["segment_id"]),
    "incentive_id": lambda store, built: _incentive(store),
    "grant_id": lambda store, built: _grant(store),
}
ORDER = ["experience_id", "segment_id", "customer_id", "import_id", "incentive_id", "grant_id"]

# Pages that are not the store's (the login and logout pages themselves).
PUBLIC = {"app-login", "app-logout"}


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p


def _app_pages():
    for route, pattern in _walk(get_resolver().url_patterns):
        if route.startswith("app/"):
            args = re.findall(r"<(?:\w+:)?(\w+)>", route)
            yield pytest.param(route, pattern.name, args, id=pattern.name or route)


PAGES = list(_app_pages())
PAGES_WITH_IDS = [p for p in PAGES if p.values[2]]


def _arguments(args, store):
    built = {}
    for name in sorted(args, key=lambda a: ORDER.index(a) if a in ORDER else len(ORDER)):
        factory = ARGUMENT_FACTORIES.get(name)
        if factory is None:
            pytest.fail(
                f"No isolation factory for the app URL argument {name!r}: add "
                f"'{name}': <function(store, built) -> id> to ARGUMENT_FACTORIES in "
                "tests/app/test_app_isolation.py so its tenant isolation is proven."
            )
        built[name] = factory(store, built)
    return built


def _url(route, values):
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), route)


def test_the_app_has_its_pages():
    names = {p.values[1] for p in PAGES}
    assert {"app-experiences", "app-segments", "app-segment", "app-customer"} <= names
    assert {"app-rewards", "app-rewards-grants", "app-rewards-incentive"} <= names
    assert len(PAGES_WITH_IDS) >= 14


@pytest.mark.parametrize("route, name, args", PAGES_WITH_IDS)
def test_merchant_of_store_a_gets_404_for_store_b_objects_on_every_page(
    client, store, other_store, route, name, args
):
    owner = f.make_user(store, Role.OWNER)
    _arguments(args, store)  # store A has objects too, so B's ids are not the only ones
    values_b = _arguments(args, other_store)
    client.force_login(owner)
    url = _url(route, values_b)
    missing = _url(route, {k: 987654321 for k in values_b})
    for method in ("get", "post"):
        answer = getattr(client, method)(url)
        # exactly like a missing id: 404 (or 405 for a GET of a POST-only page, which answers
        # before any lookup, so it says nothing about the id either)
        assert answer.status_code == getattr(client, method)(missing).status_code, (method, url)
        assert answer.status_code in ((404, 405) if method == "get" else (404,)), (method, url)


@pytest.mark.parametrize("route, name, args", PAGES)
def test_signed_out_visitor_is_sent_to_the_login_page(client, store, route, name, args):
    if name in PUBLIC:
        return
    url = _url(route, _arguments(args, store))
    answer = client.get(url)
    assert answer.status_code in (302, 405), url
    if answer.status_code == 302:
        assert answer.headers["Location"].startswith("/app/login/"), url
