"""Log lines that say which store, event and run they are about, as JSON or as plain text.

The engine binds the ids it works on (:func:`log_context` around an inbound event, a domain
event, a run's walk); :class:`ContextFilter` copies them onto every record logged meanwhile, in
any module, and the formatters print them: ``LOG_FORMAT=json`` (the default without ``DEBUG``)
one JSON object per line for a log pipeline, ``LOG_FORMAT=text`` (the default with ``DEBUG``)
readable lines for a terminal. The ids live in a ``contextvars.ContextVar``, so threads and
Celery pool processes each keep their own.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
from collections.abc import Mapping
from contextlib import contextmanager
from types import MappingProxyType

IDS = ("store_id", "event_id", "run_id")
_context: contextvars.ContextVar[Mapping] = contextvars.ContextVar(
    "log_context", default=MappingProxyType({})
)


@contextmanager
def log_context(**ids):
    """Bind ids (``store_id=``, ``event_id=``, ``run_id=``, ...) to the lines logged inside."""
    token = _context.set({**_context.get(), **{k: v for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def bind(**ids) -> None:
    """Add ids to the innermost :func:`log_context` (e.g. the store once the run is loaded)."""
    _context.set({**_context.get(), **{k: v for k, v in ids.items() if v is not None}})


def current() -> dict:
    return dict(_context.get())


class ContextFilter(logging.Filter):
    """Put the bound ids on the record (``None`` when unbound), so every line has the keys."""

    def filter(self, record: logging.LogRecord) -> bool:
        bound = _context.get()
        for key in IDS:
            if not hasattr(record, key):
                setattr(record, key, bound.get(key))
        record.log_context = dict(bound)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the ids, and any exception."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        bound = getattr(record, "log_context", {})
        for key in IDS:
            line[key] = getattr(record, key, bound.get(key))
        for key, value in bound.items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger [store=.. event=.. run=..] message``, ids only when bound."""

    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(
            f"{key.removesuffix('_id')}={getattr(record, key)}"
            for key in IDS
            if getattr(record, key, None) is not None
        )
        text = super().format(record)
        if not ids:
            return text
        head, sep, rest = text.partition(" | ")
        return f"{head} [{ids}]{sep}{rest}" if sep else f"[{ids}] {text}"


def logging_config(*, fmt: str, level: str) -> dict:
    """Return the ``LOGGING`` dict for Django (and Celery, which the settings tell to use it)."""
    formatter = (
        {"()": JsonFormatter}
        if fmt == "json"
        else {"()": TextFormatter, "format": "%(asctime)s %(levelname)s %(name)s | %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"main": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "INFO"}},
    }
