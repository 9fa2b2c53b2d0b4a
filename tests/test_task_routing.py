"""Every task lands on its own queue, so slow segment work never delays order events."""

import pytest

from config.celery import app

EXPECTED = {
    "ingest.process_pending": "ingest",
    "segments.recompute": "segments",
    "segments.evaluate_customer": "segments",
    "segments.evaluate_customers": "segments",
    "segments.run_import": "segments",
    "segments.announce_history": "segments",
    "segments.announce_pending": "segments",
    "segments.refresh_analytics": "analytics",
    "experiences.process_event": "experiences",
    "experiences.process_events": "experiences",
    "experiences.advance_run": "experiences",
    "experiences.simulate": "analytics",
    "scheduled.ingest_sweep": "scheduled",
    "scheduled.outbox_sweep": "scheduled",
    "scheduled.experiences_sweep": "scheduled",
    "scheduled.recompute_dynamic_segments": "scheduled",
    "scheduled.sweep_stuck_segment_calculations": "scheduled",
    "scheduled.rewards_sweep": "scheduled",
    "scheduled.analytics_sweep": "scheduled",
    "scheduled.task_journal_sweep": "scheduled",
    "scheduled.maintain_partitions": "scheduled",
    "rewards.process_events": "experiences",
    "segments.ping": "default",
}


@pytest.mark.parametrize(("task", "queue"), sorted(EXPECTED.items()))
def test_task_is_routed_to_its_queue(task, queue):
    app.loader.import_default_modules()
    assert task in app.tasks, f"{task} is not a registered task"
    route = app.amqp.router.route({}, task)
    assert route["queue"].name == queue


def test_every_registered_task_of_ours_has_an_expected_queue():
    app.loader.import_default_modules()
    ours = {
        n
        for n in app.tasks
        if n.split(".")[0] in {"ingest", "segments", "experiences", "rewards", "scheduled"}
    }
    assert ours == set(EXPECTED)
