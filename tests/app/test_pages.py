"""The merchant app's pages with Django's client: every page answers each role as it should,
and state changes go through the actions (viewer refused, editor allowed, owner-only archive)."""

import pytest
from django.urls import reverse

from experiences.models import Experience, Run
from segments.models import Role, Segment, SegmentHistory, SegmentMembership
from tests.experiences.helpers import milestone_graph, publish, static_segment
from tests.fixtures import factories as f


@pytest.fixture
def as_user(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def test_root_leads_to_the_app_and_the_app_to_its_login_page(client, db):
    assert client.get("/").headers["Location"] == "/app/"
    answer = client.get("/app/segments/")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/app/login/?next=/app/segments/")


def test_login_page_is_the_apps_own_and_logs_a_merchant_in(client, owner):
    page = client.get("/app/login/")
    assert page.status_code == 200
    assert b"Log in to manage your store" in page.content
    assert b"Django administration" not in page.content
    answer = client.post("/app/login/", {"username": "owner-a", "password": "pw-for-tests"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/app/"
    assert client.get("/app/").headers["Location"] == "/app/experiences/"


def test_wrong_password_says_so_on_the_login_page(client, owner):
    page = client.post("/app/login/", {"username": "owner-a", "password": "nope"})
    assert page.status_code == 200
    assert b"Please enter a correct username and password" in page.content


def test_logout_returns_to_the_login_page(as_user, owner):
    client = as_user(owner)
    answer = client.post("/app/logout/")
    assert answer.headers["Location"] == "/app/login/"
    assert client.get("/app/segments/").status_code == 302


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR, Role.OWNER])
def test_every_list_page_shows_the_role_in_the_top_bar(as_user, store, role):
    client = as_user(f.make_user(store, role))
    for url in ["/app/experiences/", "/app/segments/", "/app/customers/"]:
        page = client.get(url)
        assert page.status_code == 200, url
        assert f'class="role role-{role}"'.encode() in page.content


def test_store_switcher_shows_for_users_of_several_stores_and_switches(as_user, store, other_store):
    # given a user who owns A and views B
    user = f.make_user(store, Role.OWNER)
    f.StoreMembership.objects.create(store=other_store, user=user, role=Role.VIEWER)
    static_segment(other_store, "Only in B")
    client = as_user(user)
    page = client.get("/app/segments/")
    assert b'id="store-switch"' in page.content and b"Only in B" not in page.content
    # when they switch to B from a segment page, then they land on B's segments as a viewer
    answer = client.post("/app/store/", {"store": other_store.pk, "next": "/app/segments/9/"})
    assert answer.headers["Location"] == "/app/segments/"
    page = client.get("/app/segments/")
    assert b"Only in B" in page.content and b"role-viewer" in page.content


def test_store_switcher_refuses_a_store_the_user_lacks(as_user, owner, other_store):
    assert as_user(owner).post("/app/store/", {"store": other_store.pk}).status_code == 404


def test_single_store_user_sees_no_switcher(as_user, owner):
    assert b'id="store-switch"' not in as_user(owner).get("/app/segments/").content


# --- experiences -------------------------------------------------------------------------


def test_store_without_experiences_sees_a_clear_page(as_user, store, owner):
    store.experiences_enabled = False
    store.save()
    page = as_user(owner).get("/app/experiences/")
    assert page.status_code == 200
    assert b"Experiences are not enabled for Store A" in page.content
    assert b"contact your account manager" in page.content


def test_experiences_list_shows_kind_status_live_version_and_recent_runs(as_user, store, viewer):
    live = publish(
        store,
        *milestone_graph(static_segment(store, "T"), static_segment(store, "R")),
        name="Milestone",
    )
    customer = f.make_customer(store)
    Run.objects.create(
        store=store, experience=live, version=live.live_version, customer=customer,
        trigger_event_key="k1", trigger_event_name="order_processed", chain_origin="k1",
    )  # fmt: skip
    from experiences.actions import create_experience

    create_experience(store, name="Draft one", kind="surprise_and_delight")
    page = as_user(viewer).get("/app/experiences/").content.decode()
    assert "Milestone" in page and "Reward strategy" in page and "v1" in page
    assert "Surprise and delight" in page and "not published" in page
    assert f'href="/app/experiences/{live.pk}/builder/"' in page
    assert '<td class="num">1</td>' in page
    # a viewer sees no edit controls
    assert "New experience" not in page and "Duplicate" not in page and "Archive" not in page


def test_empty_experiences_list_says_what_to_do(as_user, editor, viewer):
    assert b"Create your first experience" in as_user(editor).get("/app/experiences/").content
    assert b"ask an editor or owner" in as_user(viewer).get("/app/experiences/").content


def test_editor_creates_a_blank_experience_and_lands_in_the_builder(as_user, store, editor):
    client = as_user(editor)
    assert b'id="template-choice"' in client.get("/app/experiences/new/").content
    answer = client.post("/app/experiences/new/", {"name": "Thanks", "kind": "reward_strategy"})
    experience = Experience.objects.get(store=store, name="Thanks")
    assert answer.headers["Location"] == f"/app/experiences/{experience.pk}/builder/"
    assert experience.versions.get().nodes.get().type == "trigger"


def test_create_experience_without_name_or_with_unknown_kind_says_what(as_user, editor):
    page = as_user(editor).post("/app/experiences/new/", {"name": " ", "kind": "nope"})
    assert page.status_code == 400
    assert b"Give the experience a name." in page.content
    assert b"Choose one of the kinds below." in page.content


def test_viewer_cannot_create_duplicate_or_archive(as_user, store, viewer):
    from experiences.actions import create_experience

    experience = create_experience(store, name="X", kind="reward_strategy")
    client = as_user(viewer)
    assert client.get("/app/experiences/new/").status_code == 403
    assert (
        client.post("/app/experiences/new/", {"name": "Y", "kind": "reward_strategy"}).status_code
        == 403
    )
    assert client.post(f"/app/experiences/{experience.pk}/duplicate/").status_code == 403
    assert client.post(f"/app/experiences/{experience.pk}/archive/").status_code == 403
    assert Experience.objects.filter(store=store).count() == 1


def test_editor_duplicates_the_live_graph_into_a_new_draft(as_user, store, editor):
    live = publish(
        store, *milestone_graph(static_segment(store, "T"), static_segment(store, "R")),
        name="Milestone", holdout_percent=10,
    )  # fmt: skip
    answer = as_user(editor).post(f"/app/experiences/{live.pk}/duplicate/")
    assert answer.status_code == 302
    copy = Experience.objects.get(store=store, name="Copy of Milestone")
    assert copy.status == "draft" and copy.holdout_percent == 10 and copy.live_version is None
    draft = copy.versions.get()
    assert sorted(draft.nodes.values_list("key", flat=True)) == sorted(
        live.live_version.nodes.values_list("key", flat=True)
    )
    assert draft.edges.count() == live.live_version.edges.count() == 3


def test_archive_is_for_owners_only(as_user, store, editor, owner):
    from experiences.actions import create_experience

    experience = create_experience(store, name="X", kind="reward_strategy")
    assert b"Archive" not in as_user(editor).get("/app/experiences/").content
    assert as_user(editor).post(f"/app/experiences/{experience.pk}/archive/").status_code == 403
    client = as_user(owner)
    assert b">Archive<" in client.get("/app/experiences/").content
    assert client.post(f"/app/experiences/{experience.pk}/archive/").status_code == 302
    experience.refresh_from_db()
    assert experience.status == "archived"
    assert b"Show 1 archived experience" in client.get("/app/experiences/").content


def test_admin_experience_page_links_to_the_builder(admin_client, store):
    from experiences.actions import create_experience

    experience = create_experience(store, name="X", kind="reward_strategy")
    page = admin_client.get(reverse("admin:experiences_experience_change", args=[experience.pk]))
    assert f'href="/app/experiences/{experience.pk}/builder/"'.encode() in page.content


# --- segments ----------------------------------------------------------------------------


def test_segments_list_shows_sizes_and_kinds(as_user, store, viewer):
    segment = static_segment(store, "VIPs")
    Segment.objects.filter(pk=segment.pk).update(member_count=42)
    page = as_user(viewer).get("/app/segments/").content.decode()
    assert "VIPs" in page and ">42<" in page and "Static" in page
    assert "New segment" not in page


def test_editor_creates_a_dynamic_segment_and_a_bad_rule_names_line_and_column(
    as_user, store, editor
):
    client = as_user(editor)
    page = client.post(
        "/app/segments/new/", {"name": "Loyal", "kind": "dynamic", "rule": "order_count >= 3"}
    )
    assert page.status_code == 400
    assert b"line 1, col 1: unknown field" in page.content
    answer = client.post(
        "/app/segments/new/", {"name": "Loyal", "kind": "dynamic", "rule": "orders_count >= 3"}
    )
    segment = Segment.objects.get(store=store, name="Loyal")
    assert answer.headers["Location"] == f"/app/segments/{segment.pk}/"
    assert segment.rule == "orders_count >= 3"


def test_rule_check_answers_line_and_column_or_the_preview_count(as_user, store, viewer):
    f.make_customer(store, orders_count=5)
    f.make_customer(store, orders_count=1)
    client = as_user(viewer)
    bad = client.post("/app/segments/rule-check/", {"rule": "orders_count >=\n  AND"})
    assert b"line 2, col 3" in bad.content
    good = client.post("/app/segments/rule-check/", {"rule": "orders_count >= 3"})
    assert b"<strong>1</strong> customer match it now" in good.content


def test_viewer_sees_the_segment_but_no_edit_controls_and_cannot_post(as_user, store, viewer):
    segment = static_segment(store, "VIPs")
    client = as_user(viewer)
    page = client.get(f"/app/segments/{segment.pk}/").content.decode()
    assert "VIPs" in page and "Save</button>" not in page and "Delete segment" not in page
    assert "Add customers by email" not in page and "Import a CSV" not in page
    assert client.post(f"/app/segments/{segment.pk}/", {"name": "Hacked"}).status_code == 403
    assert client.post(f"/app/segments/{segment.pk}/delete/").status_code == 403
    assert (
        client.post(f"/app/segments/{segment.pk}/members/add/", {"emails": "a@b.c"}).status_code
        == 403
    )
    assert client.get(f"/app/segments/{segment.pk}/import/").status_code == 403
    segment.refresh_from_db()
    assert segment.name == "VIPs"


def test_editor_renames_a_segment_and_saves_a_rule(as_user, store, editor):
    segment = Segment.objects.create(store=store, name="D", kind="dynamic", rule="orders_count > 1")
    client = as_user(editor)
    bad = client.post(f"/app/segments/{segment.pk}/", {"name": "D", "rule": "orders_count >"})
    assert bad.status_code == 400 and b"line 1, col" in bad.content
    client.post(f"/app/segments/{segment.pk}/", {"name": "Repeat", "rule": "orders_count > 2"})
    segment.refresh_from_db()
    assert (segment.name, segment.rule, segment.version) == ("Repeat", "orders_count > 2", 2)


def test_editor_adds_searches_explains_and_removes_members(as_user, store, editor):
    segment = static_segment(store, "VIPs")
    ann = f.make_customer(store, email="ann@example.com")
    f.make_customer(store, email="bob@example.com")
    client = as_user(editor)
    added = client.post(
        f"/app/segments/{segment.pk}/members/add/",
        {"emails": "ann@example.com, bob@example.com, nobody@example.com"},
        HTTP_HX_REQUEST="true",
    )
    assert b"Added 2" in added.content and b"nobody@example.com" in added.content
    page = client.get(f"/app/segments/{segment.pk}/", {"q": "ann"}).content.decode()
    members = page.split('id="members-h"')[1].split('id="history-h"')[0]
    assert "ann@example.com" in members and "bob@example.com" not in members
    why = client.get(f"/app/segments/{segment.pk}/why/{ann.pk}/")
    assert b"added by hand by editor-a" in why.content
    client.post(f"/app/segments/{segment.pk}/members/remove/", {"customer": ann.pk})
    assert not SegmentMembership.objects.filter(segment=segment, customer=ann).exists()
    assert SegmentHistory.objects.filter(segment=segment, customer=ann, action="removed").exists()
    history = client.get(f"/app/segments/{segment.pk}/history/").content.decode()
    assert history.count("ann@example.com") == 2


def test_deleting_a_segment_used_by_a_live_experience_is_refused_clearly(as_user, store, editor):
    used = static_segment(store, "Test Customers")
    publish(store, *milestone_graph(used, static_segment(store, "Reached")), name="Milestone 3")
    page = as_user(editor).post(f"/app/segments/{used.pk}/delete/")
    assert page.status_code == 409
    assert b"is in use and was not deleted" in page.content
    assert b"Experience &#x27;Milestone 3&#x27; (live)" in page.content
    assert Segment.objects.filter(pk=used.pk).exists()


def test_editor_deletes_an_unused_segment(as_user, store, editor):
    segment = static_segment(store, "Old")
    assert as_user(editor).post(f"/app/segments/{segment.pk}/delete/").status_code == 302
    assert not Segment.objects.filter(pk=segment.pk).exists()


def test_csv_import_shows_progress_page_with_its_counts(as_user, store, editor):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from segments import csv_import

    segment = static_segment(store, "Imported")
    f.make_customer(store, email="ann@example.com")
    client = as_user(editor)
    upload = SimpleUploadedFile(
        "list.csv", b"email\nann@example.com\nnot-an-email\nzed@example.com\n"
    )
    answer = client.post(f"/app/segments/{segment.pk}/import/", {"file": upload})
    job = segment.imports.get()
    assert answer.headers["Location"] == f"/app/segments/{segment.pk}/imports/{job.pk}/"
    assert b'hx-trigger="every 1s"' in client.get(answer.headers["Location"]).content
    csv_import.run_import(job.pk)  # what the worker does
    partial = client.get(answer.headers["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert "every 1s" not in partial and "<html" not in partial
    assert "not-an-email" in partial and "zed@example.com" in partial and "Unknown email" in partial


def test_csv_without_email_column_is_refused_with_the_reason(as_user, store, editor):
    from django.core.files.uploadedfile import SimpleUploadedFile

    segment = static_segment(store, "Imported")
    upload = SimpleUploadedFile("list.csv", b"name\nann\n")
    page = as_user(editor).post(f"/app/segments/{segment.pk}/import/", {"file": upload})
    assert page.status_code == 400 and b"needs an &#x27;email&#x27; column" in page.content


# --- customers ---------------------------------------------------------------------------


def test_customer_search_and_page_with_segments_runs_and_rewards(as_user, store, viewer):
    ann = f.make_customer(store, email="ann@example.com", orders_count=4)
    f.make_customer(store, email="bob@example.com")
    segment = static_segment(store, "VIPs")
    from segments.actions import add_to_segment

    add_to_segment(segment, ann, source="manual", reference="user:1")
    live = publish(
        store, *milestone_graph(static_segment(store, "T"), static_segment(store, "R")),
        name="Milestone",
    )  # fmt: skip
    Run.objects.create(
        store=store, experience=live, version=live.live_version, customer=ann,
        trigger_event_key="k1", trigger_event_name="order_processed", chain_origin="k1",
    )  # fmt: skip
    client = as_user(viewer)
    found = client.get("/app/customers/", {"q": "ann@"}).content.decode()
    assert "ann@example.com" in found and "bob@example.com" not in found
    page = client.get(f"/app/customers/{ann.pk}/").content.decode()
    assert "VIPs" in page and "Manual" in page
    assert "Milestone" in page and "Running" in page
    assert 'data-section="rewards"' in page and "Store credit balance" in page


def test_customer_search_without_match_says_so(as_user, viewer):
    page = as_user(viewer).get("/app/customers/", {"q": "zzz"})
    assert b"No customer's email contains" in page.content
