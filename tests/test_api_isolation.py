"""Tenant isolation and roles for EVERY route on the store router, discovered automatically.

Each route registered by any app (``config.urls.store_router``) is exercised: a member of store A
gets 404 for store B's slug and for store B's object ids, with every method the route answers;
a viewer reads store A; a viewer's writes are refused unless the view lets viewers do them;
an anonymous caller is refused. A route whose basename has no factory below fails with a message
saying what to add.
"""

import pytest
from django.urls import reverse
from rest_framework import permissions

from config.urls import store_router
from segments.models import Role
from tests.fixtures import factories as f


def _customer(store):
    return f.make_customer(store)


def _order(store):
    return f.make_order(f.make_customer(store))


def _subscription(store):
    return f.make_subscription(f.make_customer(store))


def _upcoming_order(store):
    customer = f.make_customer(store)
    return f.make_upcoming_order(customer, subscription=f.make_subscription(customer))


def _segment(store):
    from segments.actions import create_segment

    return create_segment(store, name=f"Segment {f.make_customer(store).pk}")


def _segment_calculation(store):
    from segments.actions import create_segment

    segment = create_segment(
        store, name=f"Rule {f.make_customer(store).pk}", kind="dynamic", rule="orders_count > 1"
    )
    return segment.calculations.get()


def _node_type(store):
    """Node types are a catalog, not rows: list-only, answered per store (its flags)."""
    return store


def _experience(store):
    """A published experience, so its version 1 and its runs can be addressed."""
    from tests.experiences.helpers import milestone_graph, publish, static_segment

    n = f.make_customer(store).pk
    graph = milestone_graph(static_segment(store, f"In {n}"), static_segment(store, f"Out {n}"))
    return publish(store, *graph, name=f"Experience {n}")


def _simulation(store):
    """A queued simulation of a published experience's version 1."""
    from experiences.simulation.run import start_simulation

    return start_simulation(_experience(store), version=1, days=30)


def _experience_template(store):
    """Templates are a catalog, not rows: list-only, answered per store (its Rewards flag)."""
    return store


def _incentive(store):
    from rewards.actions import create_incentive

    return create_incentive(
        store, name="Gift", kind="free_gift", params={"product_id": "1", "title": "Mug"}
    )


def _grant(store):
    from rewards.actions import grant_reward

    customer = f.make_customer(store)
    return grant_reward(
        store=store, customer=customer, source_key=f"iso:{customer.pk}", kind="credit", amount=5
    )


def _store_itself(store):
    """Store-level routes (the rewards summary, the caps): list-only, answered per store."""
    return store


# basename -> function(store) returning an object that the route's detail URL can address.
# Register a route on the store router? Add its basename here (tests/test_api_isolation.py).
ROUTE_FACTORIES = {
    "customer": _customer,
    "order": _order,
    "subscription": _subscription,
    "upcoming-order": _upcoming_order,
    "segment": _segment,
    "segment-calculation": _segment_calculation,
    "node-type": _node_type,
    "experience": _experience,
    "experience-template": _experience_template,
    "simulation": _simulation,
    "incentive": _incentive,
    "grant": _grant,
    "customer-credit": _customer,
    "reward-summary": _store_itself,
    "reward-policy": _store_itself,
}


def _routes():
    """Yield (basename, viewset, route name, detail?, {method: action}) for every route."""
    for _prefix, viewset, basename in store_router.registry:
        for route in store_router.get_routes(viewset):
            mapping = store_router.get_method_map(viewset, route.mapping)
            if not mapping:
                continue
            yield pytest.param(
                basename,
                viewset,
                route.name.format(basename=basename),
                route.detail,
                mapping,
                id=route.name.format(basename=basename),
            )


ROUTES = list(_routes())


def _object_for(basename, store):
    factory = ROUTE_FACTORIES.get(basename)
    if factory is None:
        pytest.fail(
            f"No isolation factory for the store-router basename {basename!r}: add "
            f"'{basename}': <function(store) -> object> to ROUTE_FACTORIES in "
            "tests/test_api_isolation.py so its tenant isolation is proven."
        )
    return factory(store)


# route name -> extra URL keyword arguments, and query parameters a GET needs to answer 200.
ROUTE_URL_KWARGS = {"experience-version": {"number": 1}}
ROUTE_QUERY = {"experience-explain": lambda store: {"customer": f.make_customer(store).pk}}


def _url(viewset, name, detail, store, obj):
    kwargs = {"store_slug": store.slug, **ROUTE_URL_KWARGS.get(name, {})}
    if detail:
        lookup_kwarg = viewset.lookup_url_kwarg or viewset.lookup_field or "pk"
        lookup_field = viewset.lookup_field or "pk"
        kwargs[lookup_kwarg] = getattr(obj, lookup_field)
    return reverse(name, kwargs=kwargs)


def _call(client, method, url, query=None):
    if method == "get":
        return client.get(url, query or {})
    return getattr(client, method)(url, {}, format="json")


def test_the_store_router_has_routes():
    assert len(ROUTES) >= 8


@pytest.mark.parametrize("basename, viewset, name, detail, mapping", ROUTES)
def test_member_of_store_a_gets_404_for_store_b_with_every_method(
    api, store, other_store, basename, viewset, name, detail, mapping
):
    # given an owner of store A (so roles never answer first) and an object in each store
    owner = f.make_user(store, Role.OWNER)
    obj_a = _object_for(basename, store)
    obj_b = _object_for(basename, other_store)
    client = api(owner)
    for method in mapping:
        # when they address store B by its slug, then 404
        response = _call(client, method, _url(viewset, name, detail, other_store, obj_b))
        assert response.status_code == 404, (method, name, "store B slug")
        assert response.json() == {"detail": "Not found."}
        if detail:
            # when they address store B's object through store A's slug, then 404
            response = _call(client, method, _url(viewset, name, detail, store, obj_b))
            assert response.status_code == 404, (method, name, "store B object id")
    assert obj_a.pk != obj_b.pk


@pytest.mark.parametrize("basename, viewset, name, detail, mapping", ROUTES)
def test_viewer_reads_and_is_refused_writes_above_their_role(
    api, store, basename, viewset, name, detail, mapping
):
    viewer = f.make_user(store, Role.VIEWER)
    obj = _object_for(basename, store)
    url = _url(viewset, name, detail, store, obj)
    for method, action in mapping.items():
        required = viewset.required_roles.get(action) or (
            Role.VIEWER if method.upper() in permissions.SAFE_METHODS else Role.EDITOR
        )
        query = ROUTE_QUERY[name](store) if name in ROUTE_QUERY else None
        response = _call(api(viewer), method, url, query)
        if Role.rank(required) > Role.rank(Role.VIEWER):
            assert response.status_code == 403, (method, name)
        elif method == "get":
            assert response.status_code == 200, (method, name, response.content[:300])


@pytest.mark.parametrize("basename, viewset, name, detail, mapping", ROUTES)
def test_anonymous_caller_is_refused_on_every_route(
    api, store, basename, viewset, name, detail, mapping
):
    obj = _object_for(basename, store)
    url = _url(viewset, name, detail, store, obj)
    for method in mapping:
        assert _call(api(), method, url).status_code in (401, 403), (method, name)


def test_viewer_logged_in_by_session_reads_and_is_refused_writes(client, store, other_store):
    # given a viewer using the browser session instead of a token
    viewer = f.make_user(store, Role.VIEWER)
    client.force_login(viewer)
    # when they read their store, then 200; another store, then 404
    assert client.get("/api/v1/stores/store-a/customers/").status_code == 200
    assert client.get("/api/v1/stores/store-b/customers/").status_code == 404
    assert [s["role"] for s in client.get("/api/v1/stores/").json()["results"]] == ["viewer"]


@pytest.mark.parametrize("auth", ["session", "token"])
def test_roles_apply_to_session_and_token_alike(api, client, store, auth):
    # given a viewer and an editor of store A, each using the session or a token
    viewer = f.make_user(store, Role.VIEWER)
    editor = f.make_user(store, Role.EDITOR)

    def post_as(user):
        if auth == "session":
            client.force_login(user)
            return client.post("/api/v1/stores/store-a/customers/", {})
        return api(user).post("/api/v1/stores/store-a/customers/", {}, format="json")

    # when each tries a write, then the viewer is refused by role and the editor passes the role
    # check and meets the read-only endpoint (405), whatever the authentication
    assert post_as(viewer).status_code == 403
    assert post_as(editor).status_code == 405


# --- Query parameters that take ids: another store's id answers exactly like a missing one -----


def _id_parameters():
    """Yield (path, parameter) for every GET query parameter of the published schema that names
    a model (``customer``, ``segment``, ...): discovered from the schema, so new routes and
    filters are covered without editing this test."""
    import json

    from django.apps import apps
    from django.test import Client

    model_names = {m._meta.model_name for m in apps.get_models()}
    spec = json.loads(Client().get("/api/schema/?format=json").content)
    for path, operations in spec["paths"].items():
        if "{store_slug}" not in path or "get" not in operations:
            continue
        for parameter in operations["get"].get("parameters", []):
            if parameter["in"] == "query" and parameter["name"] in model_names:
                yield path, parameter["name"]


def _prefix_basename():
    return {prefix: basename for prefix, _viewset, basename in store_router.registry}


@pytest.fixture
def id_parameters(db):
    return sorted(set(_id_parameters()))


def test_the_schema_has_query_parameters_that_take_ids(id_parameters):
    names = {name for _path, name in id_parameters}
    assert {"customer", "segment"} <= names, id_parameters


def test_an_id_of_another_store_in_any_query_parameter_answers_like_a_missing_id(
    api, store, other_store, id_parameters
):
    # given an owner of store A, an object of each route in store A, and rows of store B
    owner = f.make_user(store, Role.OWNER)
    client = api(owner)
    prefixes = _prefix_basename()
    factories = {"customer": _customer, "segment": _segment, "experience": _experience}
    for path, name in id_parameters:
        prefix = path.split("{store_slug}/", 1)[1].split("/", 1)[0]
        url = path.replace("{store_slug}", store.slug)
        if "{id}" in url:
            url = url.replace("{id}", str(_object_for(prefixes[prefix], store).pk))
        url = url.replace("{number}", "1")
        theirs = factories[name](other_store).pk
        missing = theirs + 10**6
        # when the parameter names store B's row, and then a row that does not exist
        answers = []
        for value in (theirs, missing):
            response = client.get(url, {name: value})
            answers.append((response.status_code, response.content))
        # then both answers are identical: nothing tells that store B's id exists
        assert answers[0] == answers[1], (path, name, answers)
        assert answers[0][0] in (200, 404), (path, name, answers)
