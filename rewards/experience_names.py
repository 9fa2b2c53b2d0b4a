"""Names of the experiences that granted rewards, for the merchant app's ledger pages.

``rewards`` never imports ``experiences``: a grant names its experience by id only. The
experiences app registers how to name them in its ``AppConfig.ready()``; without it, ids stay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from segments.models import Store

Namer = Callable[[Store, Iterable[int] | None], dict[int, str]]
_namer: list[Namer] = []


def register_experience_names(namer: Namer) -> None:
    """Set ``namer(store, ids or None for all) -> {id: name}`` (one query)."""
    _namer[:] = [namer]


def experience_names(store: Store, ids: Iterable[int] | None = None) -> dict[int, str]:
    """Return the names of these experiences of the store (all of them when ``ids`` is None)."""
    if ids is not None:
        ids = {i for i in ids if i is not None}
        if not ids:
            return {}
    if not _namer:
        return {i: f"Experience {i}" for i in ids or ()}
    return _namer[0](store, ids)
