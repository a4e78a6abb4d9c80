"""Structured JSON logs with the request id bound, and secrets scrubbed before anything is written."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"(token|secret|password|authorization|cookie|api_key|credential)", re.I)
# A personal API token anywhere in a message, e.g. inside an exception text.
_TOKEN_IN_TEXT = re.compile(r"oo_pat_[A-Za-z0-9_-]+")


def scrub_secrets(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        if _SECRET_KEYS.search(key) and key != "event":
            event_dict[key] = "[redacted]"
        elif isinstance(value, str):
            event_dict[key] = _TOKEN_IN_TEXT.sub("oo_pat_[redacted]", value)
    return event_dict


HTTP_CLIENT_LOGGERS = ("httpx", "httpcore", "niquests", "urllib3", "caldav", "googleapiclient", "authlib", "httplib2")


def configure_logging(level: str = "INFO", *, stream: Any = None) -> None:
    """JSON lines on stderr; uvicorn's and the stdlib's records go through the same renderer."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        scrub_secrets,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            scrub_secrets,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))
    # The job queue tells of each task it registers and each job it runs, with the job's arguments;
    # oO's own job log says what an operator needs, once.
    logging.getLogger("procrastinate").setLevel(max(root.level, logging.WARNING))
    # The access log repeats what our request log says, with the query string (which may hold secrets).
    logging.getLogger("uvicorn.access").disabled = True
    # HTTP clients log each request's URL (a calendar's secret link is one) and, when debugging, headers
    # and bodies (credentials, tokens): only their warnings are kept, whatever the level.
    for name in HTTP_CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(max(root.level, logging.WARNING))
