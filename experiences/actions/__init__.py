"""State changes of the ``experiences`` app, grouped by what they change.

``authoring``: experiences, drafts, publishing, pausing. ``engine``: runs started and walked on
domain events. ``templates``: experiences created from a template.
``delivery``: emails written by notification steps.
"""

from .authoring import (
    ExperienceError,
    ExperiencesDisabled,
    GraphInvalid,
    StaleRevision,
    StateConflict,
    archive_experience,
    create_experience,
    discard_draft,
    draft_for,
    duplicate_experience,
    pause_experience,
    publish_draft,
    require_experiences,
    resume_experience,
    save_draft,
    update_experience,
)
from .delivery import deliver_email, sweep_emails
from .engine import process_event, process_events
from .templates import create_from_template
from .walker import advance_run, resume_due_waits, resume_stalled_runs

__all__ = [
    "ExperienceError",
    "ExperiencesDisabled",
    "GraphInvalid",
    "StaleRevision",
    "StateConflict",
    "advance_run",
    "archive_experience",
    "create_from_template",
    "create_experience",
    "deliver_email",
    "discard_draft",
    "draft_for",
    "duplicate_experience",
    "pause_experience",
    "process_event",
    "process_events",
    "publish_draft",
    "require_experiences",
    "resume_due_waits",
    "resume_experience",
    "resume_stalled_runs",
    "save_draft",
    "sweep_emails",
    "update_experience",
]
