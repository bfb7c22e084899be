"""Render one digest per subscriber and deliver it (SMTP or outbox)."""
