"""The Analytics tabs of the merchant app: content, CSV downloads, the in-place refresh."""

import csv
import io

import pytest

from segments.analytics.refresh import run_refresh
from segments.models import AnalyticsRefresh

from .seed import NOW, make_version, run, seed_segment_store
from .test_experience_analytics import AB_NODES

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(store):
    data = seed_segment_store(store)
    experience, version, nodes = make_version(store, nodes=AB_NODES)
    for i, c in enumerate(data["customers"].values()):
        run(version, c, NOW, steps=[(nodes["trigger"], ""), (nodes["split"], "AB"[i % 2])])
    run_refresh(store.pk, now=NOW)
    return {**data, "experience": experience}


def test_segment_analytics_tab_shows_figures_and_says_it_is_not_proof(client, viewer, seeded):
    client.force_login(viewer)
    page = client.get(f"/app/segments/{seeded['segment'].pk}/analytics/?window=30")
    text = page.content.decode()
    assert page.status_code == 200
    assert "Before and after is not proof of cause." in text
    assert "<svg" in text and "Last computed at" in text and "2026-06-15 12:00" in text
    assert "Refresh now" not in text  # viewers read; refreshing is for editors
    # the segment page links to the tab
    detail = client.get(f"/app/segments/{seeded['segment'].pk}/").content.decode()
    assert f"/app/segments/{seeded['segment'].pk}/analytics/" in detail


def test_segment_tables_download_as_csv(client, viewer, seeded):
    client.force_login(viewer)
    base = f"/app/segments/{seeded['segment'].pk}/analytics.csv"
    size = list(csv.reader(io.StringIO(client.get(base + "?table=size").content.decode())))
    assert size[0] == ["date", "members", "entered", "left"] and len(size) == 108
    behaviour = client.get(base + "?table=behaviour&window=30")
    rows = list(csv.reader(io.StringIO(behaviour.content.decode())))
    assert behaviour["Content-Type"] == "text/csv"
    assert rows[3] == ["Average order value", "30.00", "25.00", "15.00"]
    retention = list(
        csv.reader(io.StringIO(client.get(base + "?table=retention").content.decode()))
    )
    assert retention[1][:3] == ["2026-03", "1", "1.0"]
    assert client.get(base + "?table=nope").status_code == 400


def test_refresh_is_queued_by_an_editor_and_the_status_swaps_in(client, editor, viewer, seeded):
    segment = seeded["segment"]
    client.force_login(viewer)
    assert client.post(f"/app/segments/{segment.pk}/analytics/refresh/").status_code == 403
    client.force_login(editor)
    answer = client.post(f"/app/segments/{segment.pk}/analytics/refresh/", HTTP_HX_REQUEST="true")
    assert answer.status_code == 200
    assert 'data-state="queued"' in answer.content.decode()
    assert AnalyticsRefresh.objects.get(store=segment.store).state == "queued"
    # when it has run, the polling status tells the page to reload its figures in place
    run_refresh(segment.store_id)
    status = client.get(f"/app/segments/{segment.pk}/analytics/status/?was=queued")
    assert status["HX-Trigger"] == "analytics-refreshed"
    body = client.get(f"/app/segments/{segment.pk}/analytics/", HTTP_HX_REQUEST="true")
    assert body.content.decode().startswith('<div id="analytics-body"')


def test_experience_analytics_page_and_csv(client, viewer, seeded):
    client.force_login(viewer)
    experience = seeded["experience"]
    page = client.get(f"/app/experiences/{experience.pk}/analytics/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "Funnel of v1" in text and "Not enough data yet" in text
    listing = client.get("/app/experiences/").content.decode()
    assert f"/app/experiences/{experience.pk}/analytics/" in listing
    funnel = client.get(f"/app/experiences/{experience.pk}/analytics.csv?table=funnel")
    rows = list(csv.reader(io.StringIO(funnel.content.decode())))
    assert ["split", "ab_split", "", "A", "3", "0.5"] in rows
    for table in ("rewards", "outcome"):
        url = f"/app/experiences/{experience.pk}/analytics.csv?table={table}"
        assert client.get(url).status_code == 200
    assert client.get(f"/app/experiences/{experience.pk}/analytics/?version=9").status_code == 404


def test_django_admin_links_to_both_analytics_pages(client, seeded):
    from tests.fixtures.factories import make_user

    client.force_login(make_user(is_staff=True, is_superuser=True))
    segment, experience = seeded["segment"], seeded["experience"]
    page = client.get(f"/admin/segments/segment/{segment.pk}/change/").content.decode()
    assert f"/app/segments/{segment.pk}/analytics/" in page
    page = client.get(f"/admin/experiences/experience/{experience.pk}/change/").content.decode()
    assert f"/app/experiences/{experience.pk}/analytics/" in page
