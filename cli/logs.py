"""The log of a long-running command: plain lines for a terminal or the journal, or one JSON
object per line for a log collector."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import click

LOG_FORMATS = ("text", "json")


def log_format_option(function: Any) -> Any:
    """``--log-format text|json``."""
    return click.option(
        "--log-format",
        type=click.Choice(LOG_FORMATS),
        default="text",
        show_default=True,
        help="How to write the log on stderr: text lines, or one JSON object per line.",
    )(function)


class JsonFormatter(logging.Formatter):
    """One event, one line: its time (UTC), level, logger, message and the fields a caller
    gave in ``extra={"fields": {...}}``."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            event.update(fields)
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return json.dumps(event, ensure_ascii=False, default=str)


@contextlib.contextmanager
def logging_to_stderr(log_format: str) -> Iterator[None]:
    """Log lps's events at INFO on stderr in ``log_format`` (APScheduler's from WARNING) while
    the block runs; the handlers are removed afterwards, so a command run in-process leaves
    the logging as it found it."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    loggers = [
        (logging.getLogger("lps"), logging.INFO),
        (logging.getLogger("apscheduler"), logging.WARNING),
    ]
    before = [(logger.level, logger.propagate) for logger, _ in loggers]
    for logger, level in loggers:
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    try:
        yield
    finally:
        for (logger, _), (level, propagate) in zip(loggers, before, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
