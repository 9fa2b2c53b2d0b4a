"""The errors that segment changes raise for the caller to show (not bugs)."""

from __future__ import annotations


class SegmentError(Exception):
    """A change refused for a reason the caller can show (not a bug)."""


class SegmentConflict(SegmentError):
    """The change clashes with existing data or the segment's kind (answered 409 by the API)."""


class SegmentInUse(SegmentError):
    """A segment that something still uses; ``usages`` says what."""

    def __init__(self, usages: list[str]):
        self.usages = usages
        super().__init__("The segment is in use: " + "; ".join(usages))
