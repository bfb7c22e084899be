"""The unsubscribe page on a real HTTP server (port 0), with a real store, fed the very links
the digests carry; and what an unsubscribe does to the next delivery (a real aiosmtpd)."""

from __future__ import annotations

import email
import email.policy
import logging
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy.exc import OperationalError

from briefing.cli import main
from briefing.config import Config, EmailSettings
from briefing.digest.deliver import DeliveryReport, deliver, message_bytes
from briefing.digest.render import TEMPLATES_DIR, render_digest, unsubscribe_token
from briefing.digest.unsubscribe import make_page_server
from briefing.errors import EXIT_NOTHING_SENT, EXIT_OK, ConfigError
from briefing.store import Store
from tests import chromium
from tests.digest_fixtures import fixed_config, fixed_edition
from tests.servers import Mailbox
from tests.test_deliver import FAST, _relay

SECRET = "a long random secret shared by the sender and its unsubscribe page"
LINK = "https://news.example.org/unsubscribe?email={email}&token={token}"


@dataclass
class Page:
    url: str  # http://127.0.0.1:PORT, where the operator's proxy would forward to
    config: Config
    store: Store

    def local(self, link: str) -> str:
        """A link as published (https://news.example.org/...), sent to this server."""
        return link.replace("https://news.example.org", self.url)


def _signed_config(tmp: Path, smtp_port: int | None = None) -> Config:
    config = fixed_config(tmp)
    email_settings = config.settings.email.model_copy(update={"unsubscribe_url": LINK})
    settings = config.settings.model_copy(update={"email": email_settings})
    if smtp_port is not None:
        smtp = config.settings.smtp.model_copy(
            update={"host": "127.0.0.1", "port": smtp_port, "security": "none", **FAST}
        )
        settings = settings.model_copy(update={"smtp": smtp})
    return config.model_copy(update={"settings": settings})


@contextmanager
def _serving(config: Config) -> Iterator[Page]:
    """The page on a free port of localhost, over a store of its own, stopped on the way out."""
    store = Store(config.database_url)
    server = make_page_server(config, store, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Page(f"http://127.0.0.1:{server.server_port}", config, store)
    finally:
        server.shutdown()
        server.server_close()
        store.close()


@pytest.fixture
def page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Page]:
    monkeypatch.setenv("BRIEFING_UNSUBSCRIBE_SECRET", SECRET)
    with _serving(_signed_config(tmp_path)) as serving:
        yield serving


def _header_link(config: Config, address: str) -> str:
    """The https link in the List-Unsubscribe header of the message `address` is sent."""
    digest = next(
        render_digest(fixed_edition(), s, config) for s in config.subscribers if s.email == address
    )
    message = email.message_from_bytes(message_bytes(digest, config), policy=email.policy.default)
    return re.findall(r"<(https://[^>]+)>", str(message["List-Unsubscribe"]))[0]


def _body_link(config: Config, address: str) -> str:
    """The unsubscribe link a reader clicks in the HTML part."""
    subscriber = next(s for s in config.subscribers if s.email == address)
    html = render_digest(fixed_edition(), subscriber, config).html or ""
    href = re.findall(r'href="(https://news\.example\.org/unsubscribe[^"]+)"', html)[0]
    return href.replace("&amp;", "&")


def test_one_click_from_the_header_unsubscribes_and_the_next_delivery_leaves_the_reader_out(
    page: Page, tmp_path: Path
) -> None:
    link = _header_link(page.config, "reader@example.org")
    # What Gmail does on its Unsubscribe button (RFC 8058).
    response = httpx.post(
        page.local(link),
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    [(when, via)] = page.store.unsubscribed(["READER@example.org"]).values()
    assert via == "one-click" and abs(datetime.now(UTC) - when) < timedelta(minutes=1)
    mailbox = Mailbox()
    with _relay(mailbox) as relay:
        config = _signed_config(tmp_path, relay.port)
        digests = [render_digest(fixed_edition(), s, config) for s in config.subscribers]
        report = deliver(digests, config, page.store)
    assert "reader@example.org" not in mailbox.counts()
    assert sorted(mailbox.counts()) == sorted(s.email for s in config.subscribers[1:])
    assert [who for who, _ in report.unsubscribed] == ["reader@example.org"]
    assert report.exit_code(len(config.subscribers)) == 0  # not a failure
    assert "unsubscribed: 1" in report.lines()[0]
    assert (
        f"  recipient reader@example.org: unsubscribed on {when.date().isoformat()} (one-click): "
        "not sent; remove the address from subscribers.yaml"
    ) in report.lines()


def test_following_the_link_asks_first_and_only_the_confirmation_unsubscribes(
    page: Page,
) -> None:
    link = page.local(_body_link(page.config, "reader@example.org"))
    shown = httpx.get(link)  # a link scanner or a reader: nothing changes yet
    assert shown.status_code == 200
    assert '<form method="post">' in shown.text and "ألغِ الاشتراك" in shown.text
    assert '<bdi class="address" dir="ltr">reader@example.org</bdi>' in shown.text
    assert '<html lang="ar" dir="rtl">' in shown.text
    assert shown.headers["Cache-Control"] == "no-store"
    assert shown.headers["Referrer-Policy"] == "no-referrer"
    assert page.store.unsubscribed(["reader@example.org"]) == {}
    # The form posts back to the page's own URL, query included, as a browser does.
    done = httpx.post(link, data={"confirm": "yes"})
    assert done.status_code == 200 and "أُلغي الاشتراك" in done.text and "<form" not in done.text
    assert page.store.unsubscribed(["reader@example.org"])["reader@example.org"][1] == "page"
    again = httpx.get(link)  # the same link later says so, with the date, and asks nothing
    assert "أُلغي الاشتراك" in again.text and "<form" not in again.text
    assert re.search(r"منذ \S+ \d+ \S+ 20\d\d", again.text)


def test_an_english_reader_gets_the_page_in_english(page: Page) -> None:
    shown = httpx.get(page.local(_body_link(page.config, "english@example.org")))
    assert '<html lang="en" dir="ltr">' in shown.text and ">Unsubscribe</button>" in shown.text


def test_an_editors_own_templates_from_before_the_page_keep_the_stock_wording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "my-templates"
    shutil.copytree(TEMPLATES_DIR, folder)
    strings = yaml.safe_load((folder / "strings.yaml").read_text("utf-8"))
    for language in strings.values():
        del language["unsubscribe_page"]
    (folder / "strings.yaml").write_text(yaml.safe_dump(strings, allow_unicode=True), "utf-8")
    monkeypatch.setenv("BRIEFING_UNSUBSCRIBE_SECRET", SECRET)
    config = _signed_config(tmp_path)
    email_settings = config.settings.email.model_copy(update={"templates": str(folder)})
    config = config.model_copy(
        update={"settings": config.settings.model_copy(update={"email": email_settings})}
    )
    with _serving(config) as own:
        shown = httpx.get(own.local(_body_link(config, "reader@example.org")))
    assert shown.status_code == 200 and "ألغِ الاشتراك" in shown.text


def test_a_forged_or_cut_link_is_refused_and_records_nothing(page: Page) -> None:
    base = f"{page.url}/unsubscribe"
    mine = unsubscribe_token("reader@example.org", SECRET)
    for query in (
        {"email": "reader@example.org", "token": "A" * 22},  # guessed
        {"email": "economy@example.org", "token": mine},  # someone else's token
        {"email": "reader@example.org", "token": mine[:-1]},  # cut short
        {"email": "reader@example.org", "token": "رمز"},  # not even ASCII
        {"email": "قارئ@example.org", "token": mine},
        {"email": "reader@example.org"},
        {"token": mine},
        {},
    ):
        for method in ("GET", "POST"):
            response = httpx.request(
                method, base, params=query, content=b"List-Unsubscribe=One-Click"
            )
            assert response.status_code == 400, (method, query)
            assert "هذا الرابط غير صالح أو ناقص" in response.text
    assert httpx.put(base, params={"email": "reader@example.org", "token": mine}).status_code == 405
    assert page.store.unsubscribed(s.email for s in page.config.subscribers) == {}
    # The address is compared as the token was made: lowercased.
    upper = httpx.post(base, params={"email": "Reader@Example.org", "token": mine})
    assert upper.status_code == 200
    assert list(page.store.unsubscribed(["reader@example.org"])) == ["reader@example.org"]


def test_the_access_log_names_the_path_never_the_address_or_token(
    page: Page, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="briefing.digest.unsubscribe")
    link = page.local(_header_link(page.config, "economy@example.org"))
    httpx.get(link)
    httpx.post(link, content=b"List-Unsubscribe=One-Click")

    def access() -> list[str]:
        return [m for m in caplog.messages if m.startswith(("GET", "POST"))]

    deadline = time.monotonic() + 5
    while len(access()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)  # the server logs a request after its answer has gone out
    assert access() == ["GET /unsubscribe 200", "POST /unsubscribe 200"]
    token = unsubscribe_token("economy@example.org", SECRET)
    assert not any(token in r.getMessage() for r in caplog.records)
    assert "unsubscribed economy@example.org (one-click)" in caplog.messages  # the event itself


def test_a_client_that_sends_nothing_is_dropped_not_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("briefing.digest.unsubscribe._Handler.timeout", 0.5)
    monkeypatch.setenv("BRIEFING_UNSUBSCRIBE_SECRET", SECRET)
    with _serving(_signed_config(tmp_path)) as page:
        port = int(page.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
            started = time.monotonic()
            assert idle.recv(1) == b""  # closed by the server, not by our 10 s
            assert time.monotonic() - started < 5


def test_health_check_and_a_store_that_cannot_be_written(
    page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    health = httpx.get(f"{page.url}/healthz")
    assert (health.status_code, health.text) == (200, "ok\n")

    def locked(*_: object) -> None:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(page.store, "unsubscribe", locked)
    link = page.local(_header_link(page.config, "reader@example.org"))
    response = httpx.post(link, content=b"List-Unsubscribe=One-Click")
    # 503: the mail provider tries the one-click POST again later.
    assert response.status_code == 503 and "أعد المحاولة" in response.text


@pytest.mark.parametrize(
    ("link", "secret", "problem"),
    [
        (
            "https://news.example.org/unsubscribe?who={email}&t={token}",
            SECRET,
            "email.unsubscribe_url 'https://news.example.org/unsubscribe?who={email}&t={token}': "
            "the unsubscribe page reads the link's `?email={email}&token={token}`; end the URL "
            "with it",
        ),
        (
            None,
            SECRET,
            "email.unsubscribe_url is not set: the digests carry no link to this page; set it "
            "to https://YOUR-HOST/unsubscribe?email={email}&token={token}",
        ),
        (LINK, None, "$BRIEFING_UNSUBSCRIBE_SECRET is not set: the page cannot check tokens"),
    ],
)
def test_the_page_will_not_start_on_links_it_cannot_check(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    link: str | None,
    secret: str | None,
    problem: str,
) -> None:
    if secret:
        monkeypatch.setenv("BRIEFING_UNSUBSCRIBE_SECRET", secret)
    else:
        monkeypatch.delenv("BRIEFING_UNSUBSCRIBE_SECRET", raising=False)
    config = fixed_config(tmp_path)
    email_settings = EmailSettings(sender="briefing@example.org", unsubscribe_url=link)
    settings = config.settings.model_copy(update={"email": email_settings})
    config = config.model_copy(update={"settings": settings})
    store = Store(config.database_url)
    try:
        with pytest.raises(ConfigError) as caught:
            make_page_server(config, store, "127.0.0.1", 0)
    finally:
        store.close()
    assert caught.value.problems == [problem]


def _demo_with_signed_links(demo_dir: Path) -> str:
    path = demo_dir / "briefing.yaml"
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    settings["email"]["unsubscribe_url"] = LINK
    path.write_text(yaml.safe_dump(settings, allow_unicode=True, sort_keys=False), "utf-8")
    return str(path)


def test_an_editor_unsubscribes_by_command_and_undoes_it(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(demo_dir / "briefing.yaml")
    assert main(["unsubscribe", "Economy@example.org", "--config", config]) == 0
    assert capsys.readouterr().out == (
        "Economy@example.org: unsubscribed, no digest from the next edition\n"
    )
    assert main(["unsubscribe", "economy@example.org", "--config", config]) == 0
    today = datetime.now(UTC).date().isoformat()
    assert capsys.readouterr().out == f"economy@example.org: already unsubscribed on {today}\n"
    assert main(["run", "--config", config]) == 0  # outbox mode: no file for them
    out = capsys.readouterr().out
    assert "digests written: 2" in out and "unsubscribed: 1" in out
    assert f"  recipient economy@example.org: unsubscribed on {today} (editor)" in out
    outbox = next((demo_dir.parent / "var" / "demo" / "outbox").iterdir())
    assert sorted(p.stem for p in outbox.glob("*.eml")) == [
        "reader@example.org",
        "text-only@example.org",
    ]
    assert main(["subscribers", "--config", config]) == 0
    [row] = [line for line in capsys.readouterr().out.splitlines() if "economy@" in line]
    assert row.split()[-4:] == ["unsubscribed", "on", today, "(editor)"]
    assert main(["unsubscribe", "--undo", "economy@example.org", "--config", config]) == 0
    assert capsys.readouterr().out == "economy@example.org: subscribed again\n"
    assert main(["unsubscribe", "--undo", "economy@example.org", "--config", config]) == 0
    assert capsys.readouterr().out == "economy@example.org: was not unsubscribed\n"


def test_the_server_command_serves_until_sigterm_and_exits_0(
    demo_dir: Path, tmp_path: Path
) -> None:
    config = _demo_with_signed_links(demo_dir)
    env = {"BRIEFING_UNSUBSCRIBE_SECRET": SECRET, "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(
        [sys.executable, "-m", "briefing", "unsubscribe-server", "--port", "0", "--config", config],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        port = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", line)
        assert port, line
        token = unsubscribe_token("reader@example.org", SECRET)
        response = httpx.post(
            f"http://127.0.0.1:{port[1]}/unsubscribe",
            params={"email": "reader@example.org", "token": token},
            content=b"List-Unsubscribe=One-Click",
        )
        assert response.status_code == 200
        process.terminate()
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
    store = Store(f"sqlite:///{tmp_path / 'var' / 'demo' / 'briefing.db'}")
    try:
        assert store.unsubscribed(["reader@example.org"])["reader@example.org"][1] == "one-click"
    finally:
        store.close()


def test_unsubscribes_are_kept_by_every_database_and_never_pruned(database_url: str) -> None:
    store = Store(database_url)
    try:
        first, new = store.unsubscribe("Sara@Example.org", "one-click")
        assert new
        # The first request stands, whatever the case of the address.
        assert store.unsubscribe("sara@example.org", "page") == (first, False)
        assert store.unsubscribed(["SARA@example.org", "omar@example.org"]) == {
            "sara@example.org": (first, "one-click")
        }
        store.prune(datetime.now(UTC) + timedelta(days=3650))
        assert "sara@example.org" in store.unsubscribed(["sara@example.org"])
        assert store.resubscribe("SARA@example.org") and not store.resubscribe("sara@example.org")
        assert store.unsubscribed(["sara@example.org"]) == {}
    finally:
        store.close()


@pytest.mark.skipif(
    not chromium.available(),
    reason=f"needs headless Chromium at {chromium.CHROMIUM} (apt-get install chromium); absent",
)
def test_in_a_browser_the_page_reads_right_to_left_and_its_button_unsubscribes(
    page: Page, tmp_path: Path
) -> None:
    browser = chromium.Browser()
    try:
        browser.open(page.local(_body_link(page.config, "reader@example.org")), 360)
        seen = browser.evaluate(
            """(() => ({
                 direction: getComputedStyle(document.body).direction,
                 scrollWidth: document.documentElement.scrollWidth,
                 button: document.querySelector('button').textContent,
                 address: getComputedStyle(document.querySelector('.address')).direction,
                 styled: getComputedStyle(document.querySelector('main')).maxWidth }))()"""
        )
        browser.screenshot(tmp_path / "unsubscribe-360.png")
        assert seen == {
            "direction": "rtl",
            "scrollWidth": 360,
            "button": "ألغِ الاشتراك",
            "address": "ltr",
            "styled": "560px",  # the inline styles passed the Content-Security-Policy
        }
        assert page.store.unsubscribed(["reader@example.org"]) == {}
        browser.evaluate("document.querySelector('button').click()")
        browser.wait_for("Page.loadEventFired")
        assert "أُلغي الاشتراك" in browser.evaluate("document.body.innerText")
        assert browser.problems() == []
    finally:
        browser.close()
    assert page.store.unsubscribed(["reader@example.org"])["reader@example.org"][1] == "page"


def test_a_morning_when_every_reader_has_unsubscribed_is_not_a_failed_delivery() -> None:
    gone = (("a@example.org", "unsubscribed ..."), ("b@example.org", "unsubscribed ..."))
    assert DeliveryReport(unsubscribed=gone).exit_code(2) == EXIT_OK
    assert DeliveryReport(unsubscribed=gone[:1]).exit_code(2) == EXIT_NOTHING_SENT
