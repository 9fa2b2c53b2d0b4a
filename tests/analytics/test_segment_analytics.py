"""Segment analytics against figures computed by hand on a small seeded store (tests/analytics/
seed.py spells the store out; the comments below do the arithmetic)."""

import datetime as dt

import pytest

from segments.analytics.refresh import run_refresh, sweep
from segments.models import (
    AnalyticsRefresh,
    SegmentDailySize,
    SegmentMembership,
    SegmentSummary,
)
from tests.fixtures.factories import make_store, make_user

from .seed import NOW, at, history, seed_segment_store

pytestmark = pytest.mark.django_db

URL = "/api/v1/stores/{slug}/segments/{id}/analytics/"


@pytest.fixture
def seeded(store):
    data = seed_segment_store(store)
    assert run_refresh(store.pk, now=NOW) == "done"
    return data


def _get(api, viewer, store, segment, **params):
    return api(viewer).get(URL.format(slug=store.slug, id=segment.pk), params)


def test_size_per_day_follows_the_history(api, viewer, store, seeded):
    # given the history: c2 joins 03-01, c1 and c4 on 04-01, c4 leaves 05-01, c3 joins 06-10
    body = _get(api, viewer, store, seeded["segment"]).json()
    days = {row["date"]: row for row in body["size"]}
    assert len(days) == 107  # 2026-03-01 .. 2026-06-15
    assert days["2026-03-01"] == {"date": "2026-03-01", "members": 1, "entered": 1, "left": 0}
    assert days["2026-03-31"]["members"] == 1
    assert days["2026-04-01"] == {"date": "2026-04-01", "members": 3, "entered": 2, "left": 0}
    assert days["2026-05-01"] == {"date": "2026-05-01", "members": 2, "entered": 0, "left": 1}
    assert days["2026-06-10"]["members"] == 3
    assert days["2026-06-15"] == {"date": "2026-06-15", "members": 3, "entered": 0, "left": 0}
    assert body["computed_at"].startswith("2026-06-15T12:00:00")


def test_behaviour_before_and_after_joining_and_rest_of_store_30_days(api, viewer, store, seeded):
    body = _get(api, viewer, store, seeded["segment"], window=30).json()
    before, after, rest = (body["behaviour"][k] for k in ("before", "after", "rest"))
    # Joined 30+ days ago: c1 (04-01) and c2 (03-01); c3 (06-10) has no whole window yet.
    # Before: c1 03-20 10.00, c2 02-15 50.00.
    assert before == {
        "customers": 2,
        "orders": 2,
        "orders_per_customer": 1.0,
        "aov": "30.00",
        "revenue": "60.00",
        "repeat_rate": 0.0,
        "cancellations": 0,
        "active_subscriptions": 2,
    }
    # After: c1 04-05 20.00 and 04-20 30.00; c2 03-10 25.00 (its cancelled order does not count);
    # c2's subscription was cancelled 03-15, inside its window.
    assert after == {
        "customers": 2,
        "orders": 3,
        "orders_per_customer": 1.5,
        "aov": "25.00",
        "revenue": "75.00",
        "repeat_rate": 0.5,
        "cancellations": 1,
        "active_subscriptions": 1,
    }
    # Rest of the store, last 30 days (05-16 to 06-15): c4, c5, c6; c5 ordered twice (30.00),
    # c6's 05-01 order is older; c5's subscription was cancelled 06-01.
    assert rest == {
        "customers": 3,
        "orders": 2,
        "orders_per_customer": 0.6667,
        "aov": "15.00",
        "revenue": "30.00",
        "repeat_rate": 1.0,
        "cancellations": 1,
        "active_subscriptions": 0,
    }


def test_ninety_day_window_counts_only_members_with_a_whole_window(api, viewer, store, seeded):
    body = _get(api, viewer, store, seeded["segment"], window=90).json()
    # Only c2 joined 90+ days ago: before 02-15 50.00, after 03-10 25.00.
    assert body["behaviour"]["before"]["customers"] == 1
    assert body["behaviour"]["before"]["revenue"] == "50.00"
    assert body["behaviour"]["after"]["revenue"] == "25.00"
    # Rest over 90 days: c5 30.00 and c6 60.00.
    assert body["behaviour"]["rest"]["revenue"] == "90.00"
    assert body["behaviour"]["rest"]["orders"] == 3


def test_retention_cells_by_joining_month(api, viewer, store, seeded):
    body = _get(api, viewer, store, seeded["segment"]).json()
    assert body["retention"] == [
        # c2 joined in March and ordered in March only.
        {"cohort": "2026-03", "size": 1, "months": [1.0, 0.0, 0.0, 0.0]},
        # c1 joined in April, ordered in April and May.
        {"cohort": "2026-04", "size": 1, "months": [1.0, 1.0, 0.0]},
        {"cohort": "2026-06", "size": 1, "months": [1.0]},
    ]


def test_incremental_refresh_touches_only_what_changed(store, seeded):
    segment, c = seeded["segment"], seeded["customers"]
    other = seed_segment_store.__globals__["Segment"].objects.create(store=store, name="Other")
    run_refresh(store.pk, now=NOW)
    before_other = SegmentSummary.objects.get(segment=other).computed_at
    # given c5 joins the segment later the same day
    history(segment, c[5], "added", "2026-06-15")
    later = NOW + dt.timedelta(hours=2)
    # when the refresh runs again
    assert run_refresh(store.pk, now=later) == "done"
    # then the day's row moved, the untouched segment's summary was left as it was
    today = SegmentDailySize.objects.get(segment=segment, date="2026-06-15")
    assert (today.members, today.entered) == (4, 1)
    assert SegmentSummary.objects.get(segment=segment).computed_at == later
    assert SegmentSummary.objects.get(segment=other).computed_at == before_other
    assert AnalyticsRefresh.objects.get(store=store).computed_at == later


def test_todays_joins_added_incrementally_match_a_full_refresh(api, viewer, store, seeded):
    segment, c = seeded["segment"], seeded["customers"]
    # given c5 (two orders in the last 30 days, a cancelled subscription) joins today
    SegmentMembership.objects.create(store=store, segment=segment, customer=c[5], source="manual")
    SegmentMembership.objects.filter(segment=segment, customer=c[5]).update(
        added_at=at("2026-06-15", 13)
    )
    history(segment, c[5], "added", "2026-06-15")
    later = NOW + dt.timedelta(hours=2)
    run_refresh(store.pk, now=later)
    incremental = [_get(api, viewer, store, segment, window=w).json() for w in (30, 90)]
    # when everything is computed again
    AnalyticsRefresh.objects.filter(store=store).update(full=True)
    run_refresh(store.pk, now=later)
    full = [_get(api, viewer, store, segment, window=w).json() for w in (30, 90)]
    # then the incremental figures are the same, and c5 moved from the rest to the members
    for inc, ful in zip(incremental, full, strict=True):
        assert inc["behaviour"] == ful["behaviour"] and inc["retention"] == ful["retention"]
    assert incremental[0]["behaviour"]["rest"]["orders"] == 0
    assert incremental[0]["behaviour"]["rest"]["customers"] == 2
    assert incremental[0]["retention"][-1] == {"cohort": "2026-06", "size": 2, "months": [1.0]}


def test_sweep_restarts_a_refresh_that_died_visibly(store, seeded):
    row = AnalyticsRefresh.objects.get(store=store)
    AnalyticsRefresh.objects.filter(pk=row.pk).update(
        state="running", started_at=at("2026-06-15", 9), heartbeat_at=at("2026-06-15", 9)
    )
    result = sweep(now=NOW)
    row.refresh_from_db()
    assert result["restarted"] == 1
    assert row.state == "queued" and row.restarts == 1
    assert "stopped answering" in row.note and "restarted by the sweep" in row.note
    # and the restarted refresh runs to the end
    assert run_refresh(store.pk, now=NOW) == "done"


def test_a_refresh_with_a_live_heartbeat_is_not_taken_twice(store, seeded):
    AnalyticsRefresh.objects.filter(store=store).update(state="running", heartbeat_at=NOW)
    assert run_refresh(store.pk, now=NOW + dt.timedelta(seconds=30)) == "busy"


@pytest.mark.parametrize("window", ["7", "", "abc", "30.0", "-30"])
def test_bad_window_is_a_400_naming_it(api, viewer, store, seeded, window):
    response = _get(api, viewer, store, seeded["segment"], window=window)
    assert response.status_code == 400
    assert "window" in response.json()


def test_another_stores_segment_is_a_404(api, store, seeded):
    outsider = make_user(make_store())
    assert _get(api, outsider, store, seeded["segment"]).status_code == 404
    other_viewer = make_user(make_store())
    response = api(other_viewer).get(
        URL.format(slug=other_viewer.stores.get().slug, id=seeded["segment"].pk)
    )
    assert response.status_code == 404


def test_sweep_queues_stores_whose_figures_are_due(store, seeded, settings):
    settings.ANALYTICS_REFRESH_SECONDS = 600
    # fresh figures: nothing to do for this store
    assert sweep(now=NOW + dt.timedelta(minutes=5))["queued"] == 0
    # older than ten minutes: queued (not a full one, the last full was today)
    result = sweep(now=NOW + dt.timedelta(minutes=11))
    row = AnalyticsRefresh.objects.get(store=store)
    assert result["queued"] == 1 and row.state == "queued" and row.full is False
    # a second sweep does not queue it twice
    assert sweep(now=NOW + dt.timedelta(minutes=12))["queued"] == 0
