"""The staff surface of the ``segments`` app, one module per concern."""

from . import commerce, segmentation  # noqa: F401
