"""The staff surface of the ``segments`` app, one module per concern."""

from . import segmentation  # noqa: F401
