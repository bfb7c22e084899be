"""Reading the messages that tests receive (tests/servers.py) or find in an outbox."""

from __future__ import annotations

from email.message import EmailMessage


def body_text(message: EmailMessage, kind: str) -> str:
    """The text of `message`'s `kind` part ("plain" or "html"); the test fails if it has none."""
    part = message.get_body((kind,))
    assert part is not None, f"no text/{kind} part"
    return part.get_content()
