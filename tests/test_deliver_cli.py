"""`briefing send` and `briefing preview` on the embedded demo, with a real aiosmtpd server."""

from __future__ import annotations

import email
import email.policy
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from aiosmtpd.controller import Controller

from briefing.cli import main
from briefing.config import load_config
from briefing.store import Store
from tests.servers import Mailbox


def use_smtp(config_dir: Path, port: int, **smtp: object) -> None:
    """Point the configuration in `config_dir` at a plain SMTP server on this host."""
    path = config_dir / "briefing.yaml"
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    settings["smtp"] = {"host": "127.0.0.1", "port": port, "security": "none", **smtp}
    path.write_text(yaml.safe_dump(settings, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_send_delivers_a_built_edition_once(
    demo_dir: Path,
    smtp_server: tuple[Controller, Mailbox],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = str(demo_dir / "briefing.yaml")
    assert main(["run", "--config", config]) == 0  # builds the edition (outbox mode)
    outbox = next((demo_dir.parent / "var" / "demo" / "outbox").iterdir())
    written = {
        p.stem: email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in outbox.glob("*.eml")
    }
    controller, mailbox = smtp_server
    use_smtp(demo_dir, controller.port)
    capsys.readouterr()
    assert main(["send", "--config", config]) == 0
    out = capsys.readouterr().out
    assert f"edition {outbox.name}: 5 stories" in out and "digests sent: 3" in out
    assert mailbox.counts() == Counter(list(written))
    for who, raw in mailbox.received:  # the same digest the run wrote, rebuilt from the store
        sent = email.message_from_bytes(raw, policy=email.policy.default)
        assert sent["Message-ID"] == written[who]["Message-ID"]
        # sent as 8bit, whose text keeps MIME's CRLF line ends; written as base64
        assert sent.get_body(("plain",)).get_content().replace("\r\n", "\n") == (  # type: ignore[union-attr]
            written[who].get_body(("plain",)).get_content()  # type: ignore[union-attr]
        )
    assert main(["send", "--config", config, "--edition", outbox.name]) == 0
    assert "digests sent: 0, already sent: 3" in capsys.readouterr().out
    assert mailbox.counts() == Counter(list(written))  # nobody got it twice


def test_send_names_a_missing_edition(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(demo_dir / "briefing.yaml")
    assert main(["send", "--config", config]) == 1
    assert "no edition has been built yet" in capsys.readouterr().err
    assert main(["run", "--config", config]) == 0
    assert main(["send", "--config", config, "--edition", "1999-01-01"]) == 1
    assert "no edition '1999-01-01'" in capsys.readouterr().err


def test_preview_of_a_built_edition_as_html_and_text(demo_dir: Path) -> None:
    config = str(demo_dir / "briefing.yaml")
    assert main(["run", "--config", config]) == 0
    edition = next((demo_dir.parent / "var" / "demo" / "outbox").iterdir()).name
    html_file, text_file = demo_dir.parent / "p.html", demo_dir.parent / "p.txt"
    args = ["preview", "--config", config, "--subscriber", "economy@example.org"]
    assert main([*args, "--edition", edition, "--output", str(html_file)]) == 0
    assert main([*args, "--edition", edition, "--output", str(text_file)]) == 0
    page, text = html_file.read_text(encoding="utf-8"), text_file.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<html lang="ar" dir="rtl">' in page
    assert "== اقتصاد ==" in text and "<" not in text
    assert "== سياسة ==" not in text  # the subscriber's sections only


def test_preview_of_a_new_edition_changes_nothing_the_run_will_see(demo_dir: Path) -> None:
    config = str(demo_dir / "briefing.yaml")
    assert main(["fetch", "--config", config]) == 0
    page = demo_dir.parent / "p.html"
    args = ["preview", "--config", config, "--subscriber", "economy@example.org"]
    assert main([*args, "--output", str(page)]) == 0
    assert "اقتصاد" in page.read_text(encoding="utf-8")  # an edition was built and rendered
    store = Store(load_config(config).database_url)
    try:
        stored = store.articles_since(datetime(2000, 1, 1, tzinfo=UTC))
        assert stored  # the fetch stored articles, and the preview clustered them...
        assert store.story_assignments(a.id for a in stored) == {}  # ...without remembering
    finally:
        store.close()


# ---- files that fail after the configuration was read: clean errors, no traceback ------


def test_an_outbox_that_cannot_be_written_is_a_clean_error(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from zoneinfo import ZoneInfo

    # The outbox folder can be created (check-config passes), but the edition's own folder
    # is taken by a file: the run fails only when it writes the digests.
    edition = datetime.now(ZoneInfo("Asia/Riyadh")).date().isoformat()
    outbox = demo_dir.parent / "var" / "demo" / "outbox"
    outbox.mkdir(parents=True)
    (outbox / edition).write_text("in the way", encoding="utf-8")
    code = main(["run", "--config", str(demo_dir / "briefing.yaml")])
    err = capsys.readouterr().err
    assert code == 1, err
    assert f"briefing: outbox var/demo/outbox/{edition}: cannot write" in err
    assert "File exists (check that this user may write there" in err
    assert "Traceback" not in err


def test_a_template_that_includes_a_missing_file_is_a_config_error(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    stock = Path(__file__).resolve().parents[1] / "templates"
    mine = demo_dir / "my-templates"
    shutil.copytree(stock, mine)
    (mine / "digest.txt.j2").write_text('{% include "footer.j2" %}\n', encoding="utf-8")
    path = demo_dir / "briefing.yaml"
    path.write_text(
        path.read_text(encoding="utf-8") + "  templates: my-templates\n", encoding="utf-8"
    )
    code = main(["run", "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert (
        f"config error: {mine}: no template footer.j2 (email.templates in briefing.yaml; "
        "copy it from the project's templates/)"
    ) in err.splitlines()


def test_a_ca_file_gone_since_the_check_names_the_file(tmp_path: Path) -> None:
    from briefing.config import Smtp
    from briefing.digest.deliver import tls_context
    from briefing.errors import DeliveryError

    missing = tmp_path / "relay-ca.pem"
    with pytest.raises(DeliveryError) as caught:
        tls_context(Smtp(host="relay.example", ca_file=str(missing)))
    assert str(caught.value) == (
        f"smtp.ca_file {missing}: cannot be used: No such file or directory "
        "(a PEM bundle, relative to briefing.yaml or an absolute path)"
    )


def _table(output: str) -> dict[str, list[str]]:
    """`briefing subscribers` output as {email: [cells]}, cut at the header's columns."""
    header, *lines = output.splitlines()
    columns = ("email", "last sent", "latest edition", "status", "problem")
    starts = [header.index(c) for c in columns]
    ends = [*starts[1:], None]
    return {
        line.split()[0]: [line[a:b].strip() for a, b in zip(starts, ends, strict=True)]
        for line in lines
    }


def test_subscribers_shows_deliveries_and_a_mailbox_held_back_is_not_written_to(
    demo_dir: Path,
    smtp_server: tuple[Controller, Mailbox],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config_path = str(demo_dir / "briefing.yaml")
    controller, mailbox = smtp_server
    use_smtp(demo_dir, controller.port)
    config = load_config(demo_dir / "briefing.yaml")
    emails = [s.email for s in config.subscribers]
    assert main(["subscribers", "--config", config_path]) == 0  # nothing delivered yet
    assert _table(capsys.readouterr().out) == {e: [e, "never", "-", "-", ""] for e in emails}
    # Three earlier editions: the economy reader's mailbox refused each for good.
    store = Store(config.database_url)
    try:
        for day in ("2026-01-01", "2026-01-02", "2026-01-03"):
            for who in ("reader@example.org", "economy@example.org"):
                assert store.reserve_delivery(day, who, "<m>", stale_after=timedelta(hours=1))
                error = "550 5.1.1 no such mailbox" if who.startswith("economy") else None
                store.complete_delivery(day, who, error=error, permanent=error is not None)
    finally:
        store.close()
    capsys.readouterr()
    assert main(["run", "--config", config_path]) == 1  # partial: one reader held back
    out = capsys.readouterr().out
    assert "  recipient economy@example.org: held back: its last 3 editions" in out
    assert mailbox.rcpt["economy@example.org"] == 0
    assert set(mailbox.counts()) == {"reader@example.org", "text-only@example.org"}
    today = datetime.now(config.zone).date().isoformat()
    assert main(["subscribers", "--config", config_path]) == 1
    rows = _table(capsys.readouterr().out)
    assert rows["reader@example.org"][1:4] == [today, today, "sent"]
    assert rows["text-only@example.org"][1:4] == [today, today, "sent"]
    held = rows["economy@example.org"]
    assert held[1:4] == ["never", "2026-01-03", "held back"]
    assert held[4].startswith("until 20") and held[4].endswith(": 550 5.1.1 no such mailbox")
