"""Who uses a segment: the hook through which higher layers refuse a segment's deletion.

``segments`` never imports ``experiences``. Instead, experiences registers a check in its
``AppConfig.ready()``::

    register_segment_usage_check(live_experiences_using_segment)

A check takes a segment and returns descriptions of what uses it (``["Experience 'Win-back'
(live)"]``); an empty list means nothing does. Deleting a used segment is refused with that list.
"""

from __future__ import annotations

from collections.abc import Callable

UsageCheck = Callable[[object], list[str]]

_checks: list[UsageCheck] = []


def register_segment_usage_check(check: UsageCheck) -> None:
    """Add a check run before a segment is deleted; registering twice has no effect."""
    if check not in _checks:
        _checks.append(check)


def unregister_segment_usage_check(check: UsageCheck) -> None:
    if check in _checks:
        _checks.remove(check)


def segment_usages(segment) -> list[str]:
    """Return what uses the segment: other segments' rules, then every registered check."""
    from .models import Segment
    from .rules import parse_rule, referenced_segments
    from .rules.errors import RuleError

    usages: list[str] = []
    keys = {str(segment.pk), segment.name.strip().lower()}
    others = Segment.objects.filter(store_id=segment.store_id, kind=Segment.Kind.DYNAMIC).exclude(
        pk=segment.pk
    )
    for other in others.only("id", "name", "rule"):
        try:
            values = referenced_segments(parse_rule(other.rule))
        except RuleError:
            continue
        if any(v.text.strip().lower() in keys for v in values):
            usages.append(f"Segment '{other.name}' (its rule refers to this segment)")
    for check in list(_checks):
        usages.extend(check(segment))
    return usages
