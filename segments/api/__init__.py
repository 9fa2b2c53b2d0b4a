"""The DRF surface of the ``segments`` app. ``register`` adds its store-scoped routes."""


def register(router) -> None:
    from . import commerce, segments

    commerce.register(router)
    segments.register(router)
