"""Helpers shared by the segment tests."""

from segments.actions import create_segment
from segments.models import SegmentCalculation, SegmentMembership
from segments.recompute import run_calculation


def member_emails(segment) -> set[str]:
    return set(
        SegmentMembership.objects.filter(segment=segment).values_list("customer__email", flat=True)
    )


def dynamic_segment(store, rule: str, name: str | None = None):
    """Create a dynamic segment and run its first recompute here, synchronously."""
    segment = create_segment(store, name=name or f"Rule {rule[:150]}", kind="dynamic", rule=rule)
    calculation = SegmentCalculation.objects.filter(segment=segment).latest("id")
    run_calculation(calculation.pk)
    segment.refresh_from_db()
    return segment
