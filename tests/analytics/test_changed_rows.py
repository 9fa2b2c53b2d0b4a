"""Changes to existing orders and subscriptions (a cancellation, a refund, an edit) reach the
next incremental refresh through their ``updated_at``, recomputing only the segments and
experience versions whose customers those rows belong to, to the same figures as a full
refresh."""

import datetime as dt

import pytest

from segments.analytics.refresh import run_refresh
from segments.models import (
    AnalyticsRefresh,
    Order,
    Segment,
    SegmentSummary,
    Subscription,
)

from .seed import NOW, at, join, make_version, seed_outcome, seed_segment_store

pytestmark = pytest.mark.django_db

SEGMENT_URL = "/api/v1/stores/{slug}/segments/{id}/analytics/"
EXPERIENCE_URL = "/api/v1/stores/{slug}/experiences/{id}/analytics/"
LATER = NOW + dt.timedelta(hours=2)
SPLIT = {"paths": [{"label": "A", "percent": 50}, {"label": "B", "percent": 50}]}
AB_SPLIT_NODES = [("trigger", "trigger", {}), ("split", "ab_split", SPLIT)]


@pytest.fixture(autouse=True)
def no_overlap(settings):
    # the seeded rows were written just before the first refresh: without an overlap they are
    # not "changed since" it, so the test sees only the change it makes
    settings.ANALYTICS_CHANGE_OVERLAP_SECONDS = 0


def _segment(api, viewer, store, segment, window=30):
    return api(viewer).get(SEGMENT_URL.format(slug=store.slug, id=segment.pk), {"window": window})


def _full_refresh(store, now):
    AnalyticsRefresh.objects.filter(store=store).update(full=True)
    assert run_refresh(store.pk, now=now) == "done"


def test_cancelled_order_changes_the_next_incremental_refresh_like_a_full_one(api, viewer, store):
    # given the seeded segment (c1 a member) and another segment holding only c5, refreshed
    data = seed_segment_store(store)
    segment, c = data["segment"], data["customers"]
    other = Segment.objects.create(store=store, name="Others")
    join(other, c[5], "2026-02-01")
    assert run_refresh(store.pk, now=NOW) == "done"
    first = _segment(api, viewer, store, segment).json()
    other_at = SegmentSummary.objects.get(segment=other).computed_at
    # when c1's order of 2026-04-20 (30.00, inside the 30 days after joining) is cancelled
    # later that day, by a plain UPDATE (the trigger moves updated_at whatever the path)
    Order.objects.filter(customer=c[1], processed_at=at("2026-04-20")).update(cancelled_at=LATER)
    assert run_refresh(store.pk, now=LATER) == "done"
    incremental = [_segment(api, viewer, store, segment, w).json() for w in (30, 90)]
    # then the members' figures dropped by that order, the untouched segment was left alone
    after = incremental[0]["behaviour"]["after"]
    assert first["behaviour"]["after"]["orders"] - after["orders"] == 1
    # after joining, 30 days: c1 20.00 + 30.00, c2 25.00 (its 100.00 was cancelled from the start)
    assert first["behaviour"]["after"]["revenue"] == "75.00"
    assert after["revenue"] == "45.00"
    assert SegmentSummary.objects.get(segment=segment).computed_at == LATER
    assert SegmentSummary.objects.get(segment=other).computed_at == other_at
    # and the figures equal a full refresh's
    _full_refresh(store, LATER)
    full = [_segment(api, viewer, store, segment, w).json() for w in (30, 90)]
    for inc, ful in zip(incremental, full, strict=True):
        assert inc["behaviour"] == ful["behaviour"] and inc["retention"] == ful["retention"]


def test_cancelled_subscription_changes_the_rest_of_the_store_like_a_full_refresh(
    api, viewer, store
):
    data = seed_segment_store(store)
    segment, c = data["segment"], data["customers"]
    assert run_refresh(store.pk, now=NOW) == "done"
    first = _segment(api, viewer, store, segment).json()["behaviour"]["rest"]
    # given c6 (not a member) had an active subscription since January, cancelled on 06-10:
    # the webhook arrives late, after the refresh
    sub = Subscription.objects.create(
        store=store, customer=c[6], product_id="p", price="10.00", created_at=at("2026-01-01")
    )
    assert run_refresh(store.pk, now=NOW) == "done"  # the subscription is no news any more
    with_sub = _segment(api, viewer, store, segment).json()["behaviour"]["rest"]
    assert with_sub["active_subscriptions"] == first["active_subscriptions"] + 1
    Subscription.objects.filter(pk=sub.pk).update(status="cancelled", cancelled_at=at("2026-06-10"))
    # when the next incremental refresh runs
    assert run_refresh(store.pk, now=LATER) == "done"
    rest = _segment(api, viewer, store, segment).json()["behaviour"]["rest"]
    # then the rest of the store counts it cancelled, as a full refresh does
    assert rest["cancellations"] == with_sub["cancellations"] + 1
    assert rest["active_subscriptions"] == first["active_subscriptions"]
    _full_refresh(store, LATER)
    assert _segment(api, viewer, store, segment).json()["behaviour"]["rest"] == rest


def test_cancelled_order_changes_the_experience_outcome_like_a_full_refresh(api, viewer, store):
    experience, version, nodes = make_version(store, nodes=AB_SPLIT_NODES, holdout=0)
    seed_outcome(store, version, nodes, groups={"A": 60, "B": 60})
    assert run_refresh(store.pk, now=NOW) == "done"
    url = EXPERIENCE_URL.format(slug=store.slug, id=experience.pk)
    first = api(viewer).get(url).json()["outcome"]
    # when every order in the 30 days after entering is cancelled (both paths)
    entered = NOW - dt.timedelta(days=100)
    changed = Order.objects.filter(
        store=store, processed_at__gte=entered, processed_at__lt=entered + dt.timedelta(days=30)
    ).update(cancelled_at=LATER)
    assert changed > 0
    assert run_refresh(store.pk, now=LATER) == "done"
    incremental = api(viewer).get(url).json()["outcome"]
    # then the next incremental refresh sees it, with the figures of a full refresh
    assert incremental["groups"] != first["groups"]
    for group in incremental["groups"].values():
        assert group["30"]["orders_per_customer"] == 0
    _full_refresh(store, LATER)
    assert api(viewer).get(url).json()["outcome"] == incremental


@pytest.mark.parametrize("status", ["refunded", "voided"])
def test_a_refunded_or_voided_order_stops_counting_as_in_the_customer_figures(
    api, viewer, store, status
):
    # given the seeded segment, refreshed (c1's 30.00 order of 2026-04-20 counted after joining)
    data = seed_segment_store(store)
    segment, c = data["segment"], data["customers"]
    assert run_refresh(store.pk, now=NOW) == "done"
    first = _segment(api, viewer, store, segment).json()["behaviour"]["after"]
    # when that order is refunded (or voided) later that day
    Order.objects.filter(customer=c[1], processed_at=at("2026-04-20")).update(
        financial_status=status
    )
    assert run_refresh(store.pk, now=LATER) == "done"
    after = _segment(api, viewer, store, segment).json()["behaviour"]["after"]
    # then it no longer counts: one order and its 30.00 fewer, as a cancellation would
    assert first["orders"] - after["orders"] == 1
    assert (first["revenue"], after["revenue"]) == ("75.00", "45.00")
