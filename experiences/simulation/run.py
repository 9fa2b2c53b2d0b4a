"""Starting, running and cancelling a simulation (the actions; the task only calls ``run``).

The background job reads the history in pages. Between pages it writes its progress with a
conditional update that also sees a cancel: once the row is no longer ``running`` the job stops
and writes nothing more. The result is written once, in the statement that marks the simulation
``done``. A crash marks it ``failed`` with the error. So a cancelled or failed simulation leaves
nothing but its own row and status; nothing outside that row is ever written.

A shadow (``mode="shadow"``) runs beside the live version for the next ``days`` days on the
graph pinned when it started: ``sweep_simulations`` (every minute) has it replay the live events
since its start every ``SHADOW_REFRESH_SECONDS`` and keep the result so far, and once its period
is over the last replay marks it ``done``. The same sweep puts back a replay whose worker died
(its heartbeat, written with the progress, stopped) and sends again what the broker lost.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from ..actions.authoring import ExperienceError, GraphInvalid, validate_version
from ..models import Experience, ExperienceVersion, Simulation
from . import history
from .replay import Replay, graph_from_snapshot, snapshot_graph
from .result import build_result

logger = logging.getLogger(__name__)

PAGE = 10_000


class SimulationRefused(ExperienceError):
    """A simulation that cannot start (an unknown version, a draft with errors)."""


def start_simulation(
    experience: Experience,
    *,
    version: int | str,
    days: int,
    mode: str = Simulation.Mode.REPLAY,
    acting_user=None,
) -> Simulation:
    """Queue a simulation of a version (a number, or "draft") over the last ``days`` days, or,
    as a shadow, beside the live version for the next ``days`` days (its graph pinned now).

    A version with validation errors is refused with them, as publishing would refuse it; a
    second shadow of one experience is refused while the first runs.
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
    now = timezone.now()
    shadow = mode == Simulation.Mode.SHADOW
    try:
        with transaction.atomic():
            simulation = Simulation.objects.create(
                store_id=experience.store_id,
                experience=experience,
                version=found,
                version_number=found.number,
                version_revision=found.revision,
                mode=mode,
                graph=snapshot_graph(found) if shadow else None,
                days=days,
                period_start=now if shadow else now - dt.timedelta(days=days),
                period_end=now + dt.timedelta(days=days) if shadow else now,
                created_by=acting_user if getattr(acting_user, "pk", None) else None,
            )
            transaction.on_commit(lambda: _enqueue(simulation.pk))
    except IntegrityError:
        message = "A shadow of this experience is already running: cancel it first."
        raise SimulationRefused(message, {"mode": [message]}) from None
    return simulation


def _enqueue(simulation_id: int) -> None:
    from ..tasks import simulate

    simulate.delay(simulation_id)


def cancel_simulation(simulation: Simulation) -> Simulation:
    """Stop a queued or running simulation (its job sees it between pages); a finished one is
    left as it is."""
    Simulation.objects.filter(
        pk=simulation.pk, status__in=[Simulation.Status.QUEUED, Simulation.Status.RUNNING]
    ).update(status=Simulation.Status.CANCELLED, result=None, finished_at=timezone.now())
    simulation.refresh_from_db()
    return simulation


def run_simulation(simulation_id: int, page: int = PAGE) -> str:
    """Replay a queued simulation to its end; return its final status.

    Safe to deliver twice: only the delivery that moves it from ``queued`` to ``running`` works.
    A running shadow is replayed again (the live events so far) by whichever delivery holds its
    lock.
    """
    now = timezone.now()
    claimed = Simulation.objects.filter(pk=simulation_id, status=Simulation.Status.QUEUED).update(
        status=Simulation.Status.RUNNING, started_at=now, heartbeat_at=now
    )
    row = Simulation.objects.filter(pk=simulation_id).values_list("mode", "status").first()
    if row is None:
        return "missing"
    mode, status = row
    if mode == Simulation.Mode.SHADOW and status == Simulation.Status.RUNNING:
        return _refresh_shadow(simulation_id, page)
    if not claimed:
        return status
    return _run(simulation_id, page)


def _run(simulation_id: int, page: int) -> str:
    """Replay a running simulation; a crash leaves its status and what went wrong."""
    # The replay holds millions of small objects that reference counting frees; the cyclic
    # collector would rescan them all, again and again, for nothing: off while it runs.
    collecting = gc.isenabled()
    gc.disable()
    try:
        simulation = Simulation.objects.select_related("experience__store", "version").get(
            pk=simulation_id
        )
        if simulation.status != Simulation.Status.RUNNING:
            return simulation.status
        return _replay(simulation, page)
    except Exception as exc:  # noqa: BLE001 - a crash leaves its status and what went wrong
        logger.exception("Simulation %s failed", simulation_id)
        Simulation.objects.filter(pk=simulation_id, status=Simulation.Status.RUNNING).update(
            status=Simulation.Status.FAILED,
            result=None,
            error=f"{type(exc).__name__}: {exc}"[:500],
            finished_at=timezone.now(),
        )
        return Simulation.Status.FAILED
    finally:
        if collecting:
            gc.enable()


def _still_running(simulation: Simulation, **progress) -> bool:
    """Write the progress; False once the simulation was cancelled (nothing is written then)."""
    return bool(
        Simulation.objects.filter(pk=simulation.pk, status=Simulation.Status.RUNNING).update(
            heartbeat_at=timezone.now(), **progress
        )
    )


def _replay(simulation: Simulation, page: int) -> str:
    shadow = simulation.mode == Simulation.Mode.SHADOW
    if simulation.version is None and not shadow:
        raise ValueError("the simulated version was deleted")
    now = timezone.now()
    # A shadow replays the live events since it started, up to now (or the end of its period).
    end = min(now, simulation.period_end) if shadow else simulation.period_end
    graph = graph_from_snapshot(simulation.graph, simulation.version) if shadow else None
    replay = Replay(simulation.experience, simulation.version, end=end, graph=graph)
    store_id = simulation.store_id
    start = simulation.period_start
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
    if shadow and end < simulation.period_end:  # the result so far; the shadow runs on
        kept = Simulation.objects.filter(pk=simulation.pk, status=Simulation.Status.RUNNING).update(
            result=result, progress_done=done, refreshed_at=now, heartbeat_at=now
        )
        return Simulation.Status.RUNNING if kept else Simulation.Status.CANCELLED
    finished = Simulation.objects.filter(pk=simulation.pk, status=Simulation.Status.RUNNING).update(
        status=Simulation.Status.DONE,
        result=result,
        progress_done=done,
        refreshed_at=now if shadow else None,
        finished_at=timezone.now(),
    )
    return Simulation.Status.DONE if finished else Simulation.Status.CANCELLED


def _refresh_shadow(simulation_id: int, page: int) -> str:
    """Replay a running shadow's live events so far, unless another delivery is at it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [SHADOW_LOCK, simulation_id])
        (locked,) = cursor.fetchone()
    if not locked:
        return Simulation.Status.RUNNING
    try:
        return _run(simulation_id, page)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [SHADOW_LOCK, simulation_id])


SHADOW_LOCK = 0x5348  # the advisory lock space of shadow replays ("SH")


def sweep_simulations(now: dt.datetime | None = None) -> dict[str, int]:
    """Put back replays whose worker died, send again what the broker lost, and have running
    shadows replay the live events so far (every ``SHADOW_REFRESH_SECONDS``, and once more at
    the end of their period). Return how many of each."""
    now = now or timezone.now()
    stale = now - dt.timedelta(seconds=settings.SIMULATION_STALE_SECONDS)
    refresh = now - dt.timedelta(seconds=settings.SHADOW_REFRESH_SECONDS)
    running, queued, shadow = Simulation.Status.RUNNING, Simulation.Status.QUEUED, "shadow"
    with transaction.atomic():
        restarted = list(
            Simulation.objects.filter(mode="replay", status=running, heartbeat_at__lt=stale)
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)
        )
        Simulation.objects.filter(pk__in=restarted).update(
            status=queued, progress_done=0, heartbeat_at=None
        )
    lost = list(
        Simulation.objects.filter(status=queued, created_at__lt=stale)
        .exclude(pk__in=restarted)
        .values_list("pk", flat=True)
    )
    due = list(
        Simulation.objects.filter(mode=shadow, status=running)
        .filter(Q(refreshed_at__isnull=True) | Q(refreshed_at__lt=refresh) | Q(period_end__lte=now))
        .values_list("pk", flat=True)
    )
    for simulation_id in [*restarted, *lost, *due]:
        _enqueue(simulation_id)
    return {"restarted": len(restarted), "resent": len(lost), "shadows": len(due)}
