"""Logging: human-readable lines by default, JSON lines for log collectors.

A record logged with `extra={"summary": True, ...}` is a command's summary line: JSON
gives its fields as keys, text appends them as `key=value` so both show the counts."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_STANDARD = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        if not getattr(record, "summary", False):
            return line
        fields = {
            k: v
            for k, v in vars(record).items()
            if k not in _STANDARD and k not in ("summary", "message", "asctime")
        }
        return line + ": " + " ".join(f"{k}={_text(v)}" for k, v in fields.items())


def _text(value: object) -> str:
    """A field's value on one line: mappings as a:1,b:2 (zeros left out), text with spaces
    quoted, numbers as they are."""
    if isinstance(value, dict):
        return ",".join(f"{k}:{v}" for k, v in value.items() if v != 0) or "-"
    text = str(value)
    return repr(text) if not text or any(c.isspace() for c in text) else text


def setup_logging(fmt: str = "text", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries chatter at INFO about every request; keep their warnings only.
    for noisy in (
        "httpx",
        "httpcore",
        "aiosmtplib",
        "apscheduler",
        "trafilatura",
        "filelock",
        "mail.log",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
