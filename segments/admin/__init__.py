"""The staff surface of the ``segments`` app, one module per concern."""

from . import commerce, events, segmentation  # noqa: F401
