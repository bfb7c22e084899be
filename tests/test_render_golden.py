"""Golden files: the rendered digest of a fixed edition, byte for byte.

A change to the templates or the renderer shows up here as a readable diff. When the change
is intended, regenerate and review the files:

    BRIEFING_UPDATE_GOLDEN=1 PYTHONPATH=. python -m pytest tests/test_render_golden.py
"""

from __future__ import annotations

import email
import email.policy
import os
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from briefing.digest.deliver import build_message
from briefing.digest.render import render_digest
from tests.digest_fixtures import fixed_config, fixed_edition, subscriber

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("BRIEFING_UPDATE_GOLDEN") == "1"


def _check(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"{path} is missing; create it with BRIEFING_UPDATE_GOLDEN=1")
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs from its golden file (see the module docstring)"


def _headers(msg: EmailMessage) -> str:
    """Decoded headers and the MIME structure, volatile values masked."""
    lines = []
    for part in msg.walk():
        lines.append(f"--- {part.get_content_type()}")
        for key, value in part.items():
            shown = str(value)
            if key == "Date":
                shown = "<masked: send time>"
            shown = re.sub(r'boundary="[^"]+"', 'boundary="<masked>"', shown)
            lines.append(f"{key}: {shown}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("who", "parts"),
    [
        ("reader@example.org", ("html", "txt", "headers")),
        ("text-only@example.org", ("txt", "headers")),
        ("english@example.org", ("html", "txt")),
    ],
)
def test_rendered_digest_matches_golden_files(
    tmp_path: Path, who: str, parts: tuple[str, ...]
) -> None:
    config = fixed_config(tmp_path)
    digest = render_digest(fixed_edition(), subscriber(who), config)
    stem = who.split("@")[0]
    if "html" in parts:
        _check(f"{stem}.html", digest.html or "")
    if "txt" in parts:
        _check(f"{stem}.txt", digest.text)
    if "headers" in parts:
        raw = bytes(build_message(digest, config, now=datetime(2026, 11, 29, 3, tzinfo=UTC)))
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        _check(f"{stem}.headers.txt", _headers(msg))  # type: ignore[arg-type]
