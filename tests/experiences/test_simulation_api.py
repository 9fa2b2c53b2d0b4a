"""The simulations API: editors start and cancel, viewers read, strict input, another store's
simulation is a 404, a draft with validation errors is refused with them."""

import pytest

from experiences import actions
from experiences.models import Simulation
from experiences.simulation.run import run_simulation, start_simulation

from .helpers import edge, node
from .simulation_helpers import plan_history, write_history

pytestmark = pytest.mark.django_db


def base(store):
    return f"/api/v1/stores/{store.slug}"


GRAPH = (
    [
        node("trigger", "trigger", {"event": "order_processed", "confirm_every_order": True}),
        node("credit", "credit", {"amount": "2.50"}),
        node("end", "end"),
    ],
    [edge("trigger", "credit"), edge("credit", "end")],
)


@pytest.fixture
def experience(store):
    experience = actions.create_experience(store, name="Thanks", kind="reward_strategy")
    _, report = actions.save_draft(experience, revision=1, nodes=GRAPH[0], edges=GRAPH[1])
    assert report.ok
    return experience


@pytest.fixture
def foreign_simulation(other_store):
    experience = actions.create_experience(other_store, name="Theirs", kind="reward_strategy")
    actions.save_draft(experience, revision=1, nodes=GRAPH[0], edges=GRAPH[1])
    return start_simulation(experience, version="draft", days=30)


def test_editor_starts_a_simulation_and_a_viewer_reads_its_result(
    api, editor, viewer, store, experience
):
    # given a store with a history of orders
    _, planned = plan_history(store, customers=6, days=20)
    write_history(planned)
    # when an editor starts a simulation of the draft
    answer = api(editor).post(
        f"{base(store)}/experiences/{experience.pk}/simulations/",
        {"version": "draft", "days": 30},
        format="json",
    )
    # then it is accepted, queued, with its progress and where to read it
    assert answer.status_code == 202, answer.json()
    body = answer.json()
    assert body["status"] == "queued" and body["progress"] == {"done": 0, "total": 0}
    assert body["url"].endswith(f"{base(store)}/simulations/{body['id']}/")
    assert body["result"] is None
    # and once the job has run, a viewer reads the result
    run_simulation(body["id"])
    read = api(viewer).get(f"{base(store)}/simulations/{body['id']}/")
    assert read.status_code == 200
    done = read.json()
    assert done["status"] == "done"
    assert done["progress"] == {"done": len(planned), "total": len(planned)}
    result = done["result"]
    # (re-entry is "once" by default: each customer's first order enters)
    assert result["entered"] == result["runs"] == 6
    assert result["refused_by_reentry"] == len(planned) - 6
    credit = next(n for n in result["nodes"] if n["node"] == "credit")
    assert credit["reached"] == 6
    assert result["rewards"]["count"] == 6 and result["rewards"]["cost"] == "15.00"
    assert result["rewards"]["currency"] == store.currency
    assert {"customer", "node", "reason"} <= set(result["sample"][0])


def test_a_published_version_is_simulated_by_number(api, editor, store, experience):
    actions.publish_draft(experience)
    answer = api(editor).post(
        f"{base(store)}/experiences/{experience.pk}/simulations/",
        {"version": 1, "days": 7},
        format="json",
    )
    assert answer.status_code == 202
    assert answer.json()["version"] == 1


def test_a_viewer_cannot_start_or_cancel_a_simulation(api, viewer, store, experience):
    url = f"{base(store)}/experiences/{experience.pk}/simulations/"
    assert api(viewer).post(url, {"version": "draft", "days": 30}, format="json").status_code == 403
    simulation = start_simulation(experience, version="draft", days=30)
    cancel = api(viewer).post(f"{base(store)}/simulations/{simulation.pk}/cancel/")
    assert cancel.status_code == 403
    simulation.refresh_from_db()
    assert simulation.status == Simulation.Status.QUEUED


def test_a_draft_with_validation_errors_is_refused_with_them(api, editor, store):
    experience = actions.create_experience(store, name="Broken", kind="reward_strategy")
    nodes = [node("trigger", "trigger", {"event": "order_processed"}), node("end", "end")]
    actions.save_draft(experience, revision=1, nodes=nodes, edges=[edge("trigger", "end")])
    answer = api(editor).post(
        f"{base(store)}/experiences/{experience.pk}/simulations/",
        {"version": "draft", "days": 30},
        format="json",
    )
    assert answer.status_code == 400
    assert "conditions" in answer.json()["errors"]["nodes"]["trigger"]
    assert not Simulation.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"version": "draft", "days": 6}, "days"),
        ({"version": "draft", "days": 366}, "days"),
        ({"version": "draft", "days": "30"}, "days"),
        ({"version": "draft"}, "days"),
        ({"version": "latest", "days": 30}, "version"),
        ({"version": 0, "days": 30}, "version"),
        ({"version": True, "days": 30}, "version"),
        ({"version": 7, "days": 30}, "version"),
        ({"version": "draft", "days": 30, "speed": "fast"}, "speed"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, editor, store, experience, body, field):
    answer = api(editor).post(
        f"{base(store)}/experiences/{experience.pk}/simulations/", body, format="json"
    )
    assert answer.status_code == 400
    assert field in answer.json()
    assert not Simulation.objects.exists()


def test_a_simulation_of_a_missing_draft_is_refused(api, editor, store, experience):
    actions.publish_draft(experience)
    answer = api(editor).post(
        f"{base(store)}/experiences/{experience.pk}/simulations/",
        {"version": "draft", "days": 30},
        format="json",
    )
    assert answer.status_code == 400 and "version" in answer.json()


def test_another_stores_simulation_is_a_404(api, editor, store, foreign_simulation):
    client = api(editor)
    assert client.get(f"{base(store)}/simulations/{foreign_simulation.pk}/").status_code == 404
    cancel = client.post(f"{base(store)}/simulations/{foreign_simulation.pk}/cancel/")
    assert cancel.status_code == 404
    started = client.post(
        f"{base(store)}/experiences/{foreign_simulation.experience_id}/simulations/",
        {"version": "draft", "days": 30},
        format="json",
    )
    assert started.status_code == 404
    foreign_simulation.refresh_from_db()
    assert foreign_simulation.status == Simulation.Status.QUEUED


def test_an_editor_cancels_a_queued_simulation_and_the_job_then_does_nothing(
    api, editor, store, experience
):
    simulation = start_simulation(experience, version="draft", days=30)
    answer = api(editor).post(f"{base(store)}/simulations/{simulation.pk}/cancel/")
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    assert run_simulation(simulation.pk) == Simulation.Status.CANCELLED
    simulation.refresh_from_db()
    assert simulation.result is None and simulation.started_at is None
