"""Monthly partitions of runs and steps, and why the engine's promises survive them.

``experiences_run`` and ``experiences_runstep`` grow with every event that starts a run. They are
partitioned by range of ``month`` (migration 0006), and ``segments.partitions`` keeps three
months ahead with the beat task ``scheduled.maintain_partitions`` (registered below).

The month is the month (UTC) of the triggering ``DomainEvent``'s ``occurred_at``, not of the
run's start. An event's ``occurred_at`` is set once, when the event is created in the
transaction that records it in the outbox, and travels in its JSON: the outbox's resend, the
broker's redelivery, the engine's one-by-one fallback after a failed batch and a wait resumed
from ``run.trigger_event`` all read the same value. (A bulk announcement of segment changes
takes it from the history row, so announcing twice names one month too; the simulation writes
no runs.) So:

- ``(experience, trigger_event_key, month)`` is one run per experience and event, as strong as
  the key without the month: a redelivery, in any month, names the same month and meets the
  run it already started;
- a step copies its run's month, so ``(run, node, rotation, month)`` is one step per run, node
  and rotation, whichever month a wait resumes in;
- ``(experience, customer, rotation)`` cannot be a key of a partitioned table (it has no month),
  so the rotation is counted in the unpartitioned ``RunRotation`` (one row per experience and
  customer, bumped under the customer's lock); re-entry reads that row instead of every month;
- the foreign keys name the whole key in the database: a step's ``(run_id, month)``, an email's
  ``(step_id, step_month)``; grants name their step by id (unique: one sequence for all months).

What the hot reads touch:

- the redelivery check (event keys and their months) and a walk's steps (run and month): only
  those months' partitions;
- a customer's runs in flight: ``RunInFlight`` (migration 0007, kept by statement-level
  triggers on runs) names their months, and only those are read; a customer with none reads no
  run at all;
- the waits due: the small partial index (``runstep_waiting_due``) of every partition, which
  holds only waiting steps, so a finished month costs an empty index probe;
- a run by id alone (a walk, a sweep): each partition's primary key, one probe per month.

Rows of a month without a partition (an event older than the first partition) land in the default
partition and stay there: foreign keys point at these tables, so rows cannot be moved out of it.
"""

from __future__ import annotations

from segments import partitions

TABLES = ("experiences_run", "experiences_runstep")


def register() -> None:
    """Have the beat task keep this app's monthly partitions ahead."""
    for table in TABLES:
        partitions.register(table, "month", movable=False)
