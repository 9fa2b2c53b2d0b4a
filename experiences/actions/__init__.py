"""State changes of the ``experiences`` app, grouped by what they change.

``authoring``: experiences, drafts, publishing, pausing. ``engine``: runs started and walked on
domain events. ``delivery``: emails written by notification steps.
"""

from .authoring import (
    ExperienceError,
    GraphInvalid,
    StaleRevision,
    archive_experience,
    create_experience,
    discard_draft,
    draft_for,
    pause_experience,
    publish_draft,
    resume_experience,
    save_draft,
    update_experience,
)
from .delivery import deliver_email, sweep_emails
from .engine import process_event, process_events
from .walker import advance_run, resume_due_waits, resume_stalled_runs

__all__ = [
    "ExperienceError",
    "GraphInvalid",
    "StaleRevision",
    "advance_run",
    "archive_experience",
    "create_experience",
    "deliver_email",
    "discard_draft",
    "draft_for",
    "pause_experience",
    "process_event",
    "process_events",
    "publish_draft",
    "resume_due_waits",
    "resume_experience",
    "resume_stalled_runs",
    "save_draft",
    "sweep_emails",
    "update_experience",
]
