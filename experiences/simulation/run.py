"""Starting, running and cancelling a simulation (the actions; the task only calls ``run``).

The background job reads the history in pages. Between pages it writes its progress with a
conditional update that also sees a cancel: once the row is no longer ``running`` the job stops
and writes nothing more. The result is written once, in the statement that marks the simulation
``done``. A crash marks it ``failed`` with the error. So a cancelled or failed simulation leaves
nothing but its own row and status; nothing outside that row is ever written.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone

from ..actions.authoring import ExperienceError, GraphInvalid, validate_version
from ..models import Experience, ExperienceVersion, Simulation
from . import history
from .replay import Replay
from .result import build_result

logger = logging.getLogger(__name__)

PAGE = 10_000


class SimulationRefused(ExperienceError):
    """A simulation that cannot start (an unknown version, a draft with errors)."""


def start_simulation(
    experience: Experience, *, version: int | str, days: int, acting_user=None
) -> Simulation:
    """Queue a simulation of a version (a number, or "draft") over the last ``days`` days.

    A version with validation errors is refused with them, as publishing would refuse it.
    """
    if version == "draft":
        found = experience.versions.filter(state=ExperienceVersion.State.DRAFT).first()
        if found is None:
            raise SimulationRefused(
                "This experience has no draft.", {"version": ["This experience has no draft."]}
            )
    else:
        found = experience.versions.filter(number=version).first()
        if found is None:
            raise SimulationRefused(
                f"No version {version}.",
                {"version": [f"This experience has no version {version}."]},
            )
    report = validate_version(found)
    if not report.ok:
        raise GraphInvalid(report)
    end = timezone.now()
    with transaction.atomic():
        simulation = Simulation.objects.create(
            store_id=experience.store_id,
            experience=experience,
            version=found,
            version_number=found.number,
            version_revision=found.revision,
            days=days,
            period_start=end - dt.timedelta(days=days),
            period_end=end,
            created_by=acting_user if getattr(acting_user, "pk", None) else None,
        )
        transaction.on_commit(lambda: _enqueue(simulation.pk))
    return simulation


def _enqueue(simulation_id: int) -> None:
    from ..tasks import simulate

    simulate.delay(simulation_id)


def cancel_simulation(simulation: Simulation) -> Simulation:
    """Stop a queued or running simulation (its job sees it between pages); a finished one is
    left as it is."""
    Simulation.objects.filter(
        pk=simulation.pk, status__in=[Simulation.Status.QUEUED, Simulation.Status.RUNNING]
    ).update(status=Simulation.Status.CANCELLED, finished_at=timezone.now())
    simulation.refresh_from_db()
    return simulation


def run_simulation(simulation_id: int, page: int = PAGE) -> str:
    """Replay a queued simulation to its end; return its final status.

    Safe to deliver twice: only the delivery that moves it from ``queued`` to ``running`` works.
    """
    claimed = Simulation.objects.filter(pk=simulation_id, status=Simulation.Status.QUEUED).update(
        status=Simulation.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return (
            Simulation.objects.filter(pk=simulation_id).values_list("status", flat=True).first()
            or "missing"
        )
    simulation = Simulation.objects.select_related("experience__store", "version").get(
        pk=simulation_id
    )
    try:
        return _replay(simulation, page)
    except Exception as exc:  # noqa: BLE001 - a crash leaves its status and what went wrong
        logger.exception("Simulation %s failed", simulation_id)
        Simulation.objects.filter(pk=simulation_id, status=Simulation.Status.RUNNING).update(
            status=Simulation.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:500],
            finished_at=timezone.now(),
        )
        return Simulation.Status.FAILED


def _still_running(simulation: Simulation, **progress) -> bool:
    """Write the progress; False once the simulation was cancelled (nothing is written then)."""
    return bool(
        Simulation.objects.filter(pk=simulation.pk, status=Simulation.Status.RUNNING).update(
            **progress
        )
    )


def _replay(simulation: Simulation, page: int) -> str:
    if simulation.version is None:
        raise ValueError("the simulated version was deleted")
    replay = Replay(simulation.experience, simulation.version, end=simulation.period_end)
    store_id = simulation.store_id
    start, end = simulation.period_start, simulation.period_end
    sources = replay.sources() if replay.replayable() else set()
    total = history.count_events(store_id, start, end, sources)
    if not _still_running(simulation, progress_total=total):
        return Simulation.Status.CANCELLED
    done = 0
    for events in history.read_events(store_id, start, end, sources, page=page):
        replay.feed(events)
        done += len(events)
        if not _still_running(simulation, progress_done=done):
            return Simulation.Status.CANCELLED
    replay.finish()
    result = build_result(replay, simulation)
    finished = Simulation.objects.filter(pk=simulation.pk, status=Simulation.Status.RUNNING).update(
        status=Simulation.Status.DONE,
        result=result,
        progress_done=done,
        finished_at=timezone.now(),
    )
    return Simulation.Status.DONE if finished else Simulation.Status.CANCELLED
