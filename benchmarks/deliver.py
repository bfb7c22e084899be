"""Delivery throughput: pooled, reused SMTP connections against one connection per message.

Sends the same N digests (default 1,000) to a local aiosmtpd server running in its own
process, through `briefing.digest.deliver.deliver` with a fresh SQLite store per mode, so
every mode pays the same exactly-once bookkeeping (reserve before, complete after). Modes:

  naive   one connection per message, one at a time (connect, EHLO, send, QUIT)
  reuse   one connection reused for every message, one at a time
  pooled  `--concurrency` connections, each reused (the default configuration's way)

The modes run in turn, `--rounds` times (naive, reuse, pooled, naive, ...), so that every
mode meets the same moments of a shared machine; on two busy cores one pass per mode moved the
ratio from 3.4x to 4.9x on the same code. Prints one JSON object: per mode the median of the
rounds, and the pooled/naive speed-up of each round beside their median (the figure to quote).
`--starttls` makes the server a submission relay (STARTTLS then AUTH on every connection);
`--rtt-ms` delays each server reply by a network round trip (loopback has none).

    PYTHONPATH=. python benchmarks/deliver.py [--messages 1000] [--concurrency 8]
        [--rounds 3] [--starttls] [--rtt-ms 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from briefing.config import Config, EmailSettings, Settings, Smtp
from briefing.digest.deliver import deliver
from briefing.digest.render import render_digest
from briefing.models import Article, Digest, Edition, EditionStory, KeySentence, Story, Summary
from briefing.store import Store

_SERVER = textwrap.dedent(
    """
    import asyncio, ssl, sys, warnings
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, AuthResult

    warnings.simplefilter("ignore")
    port, cert, key, rtt = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
    received = 0

    class Count:
        async def handle_DATA(self, server, session, envelope):
            global received
            received += 1
            return "250 OK"

    class FarAway(SMTP):
        async def push(self, status):
            await asyncio.sleep(rtt)  # each reply arrives one network round trip later
            await super().push(status)

    class Relay(Controller):
        def factory(self):
            return (FarAway if rtt else SMTP)(self.handler, **self.SMTP_kwargs)

    tls, auth = None, {}
    if cert:  # a submission relay: STARTTLS, then AUTH, on every connection
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
        auth = {"auth_required": True,
                "authenticator": lambda *a: AuthResult(success=True, handled=False)}
    relay = Relay(Count(), hostname="127.0.0.1", port=port, tls_context=tls,
                  require_starttls=bool(cert), ready_timeout=30, **auth)
    relay.start()
    print("ready", flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin
    relay.stop()
    print(received, flush=True)
    """
)


def _edition() -> Edition:
    built = datetime(2026, 11, 29, 3, tzinfo=UTC)
    stories = []
    for i in range(8):  # a typical morning: eight stories, a few sentences each
        article = Article(
            id=f"a{i}",
            feed="وكالة",
            source="وكالة النخيل",
            section="news",
            url=f"https://news.example.org/{i}",
            title=f"عنوان الخبر رقم {i} عن حدث اليوم في المدينة",
            text="",
            published=built,
        )
        sentences = tuple(
            KeySentence(f"جملة رئيسية {j} من الخبر {i} تشرح ما حدث ولماذا يهم.", "a", ())
            for j in range(3)
        )
        stories.append(
            EditionStory(
                story=Story(id=f"s{i}", articles=(article,), section="news"),
                summary=Summary(story_id=f"s{i}", key_sentences=sentences),
            )
        )
    return Edition(id="2026-11-29", day=date(2026, 11, 29), created=built, stories=tuple(stories))


def _config(folder: Path, port: int, smtp: Mapping[str, object]) -> Config:
    settings = Settings(
        database=str(folder / "briefing.db"),
        sections={"news": "أخبار"},
        smtp=Smtp(host="127.0.0.1", port=port, **smtp),  # type: ignore[arg-type]
        email=EmailSettings(sender="briefing@example.org", unsubscribe_url="https://example.org/u"),
    )
    return Config(path=folder / "briefing.yaml", settings=settings, feeds=(), subscribers=())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _certificate(folder: Path) -> tuple[str, str]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="times each mode runs, in turn")
    parser.add_argument(
        "--starttls", action="store_true", help="STARTTLS and AUTH on every connection"
    )
    parser.add_argument(
        "--rtt-ms",
        type=float,
        default=0.0,
        help="network round trip to emulate: the server waits this long before each reply",
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.starttls:  # the login comes from the environment, as in production
        os.environ["BRIEFING_SMTP_USERNAME"] = "bench"
        os.environ["BRIEFING_SMTP_PASSWORD"] = "bench"

    work = Path(tempfile.mkdtemp(prefix="briefing-bench-"))
    cert, key = _certificate(work) if args.starttls else ("", "")
    security = {"security": "starttls", "ca_file": cert} if args.starttls else {"security": "none"}
    modes = {
        "naive": {"concurrency": 1, "messages_per_connection": 1},
        "reuse": {"concurrency": 1, "messages_per_connection": 10_000},
        "pooled": {"concurrency": args.concurrency, "messages_per_connection": 10_000},
    }
    template = render_digest(_edition(), _subscriber(), _config(work, 25, security))
    digests = [replace(template, subscriber=f"r{i:05d}@example.org") for i in range(args.messages)]
    rounds: list[dict[str, dict[str, float]]] = []
    for number in range(args.rounds):
        rounds.append({})
        for name, smtp in modes.items():
            folder = work / f"{name}-{number}"
            folder.mkdir()
            server = _Server(cert, key, args.rtt_ms)
            config = _config(folder, server.port, {**security, **smtp, "retries": 0})
            rounds[-1][name] = _send(digests, config, server)
    shutil.rmtree(work, ignore_errors=True)
    # Per mode, the median round of each figure; the speed-up is the median of each round's
    # own pooled/naive ratio (both modes measured at the same moment).
    results = {
        name: {
            key: round(statistics.median(r[name][key] for r in rounds), 3)
            for key in rounds[0][name]
        }
        for name in modes
    }
    ratios = {
        other: [
            round(r[other]["messages_per_second"] / r["naive"]["messages_per_second"], 2)
            for r in rounds
        ]
        for other in ("reuse", "pooled")
    }
    print(
        json.dumps(
            {
                "messages": args.messages,
                "concurrency": args.concurrency,
                "starttls_and_auth": args.starttls,
                "rtt_ms": args.rtt_ms,
                "bytes_per_message": len(template.text) + len(template.html or ""),
                "rounds": args.rounds,
                "modes": results,
                "speedup_reuse_vs_naive": statistics.median(ratios["reuse"]),
                "speedup_pooled_vs_naive": statistics.median(ratios["pooled"]),
                "speedup_pooled_vs_naive_per_round": ratios["pooled"],
                "target_speedup": 5.0,
                "cpu_count": os.cpu_count(),
                "load_average_1min": round(os.getloadavg()[0], 2),
            },
            ensure_ascii=False,
        )
    )


def _send(digests: list[Digest], config: Config, server: _Server) -> dict[str, float]:
    """Deliver every digest through `server` on a fresh store; the figures of that one pass."""
    store = Store(config.database_url)
    cpu, start = time.process_time(), time.perf_counter()
    report = deliver(digests, config, store)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    store.close()
    received, server_cpu = server.stop()
    assert len(report.sent) == received == len(digests), report.failed[:3]
    return {
        "seconds": round(seconds, 3),
        "messages_per_second": round(len(digests) / seconds, 1),
        # Where the time goes: CPU per message in this process and in the server's.
        "client_cpu_ms_per_message": round(1000 * cpu / len(digests), 2),
        "server_cpu_ms_per_message": round(1000 * server_cpu / len(digests), 2),
    }


class _Server:
    """A fresh aiosmtpd process per mode, so that its CPU time can be told apart."""

    def __init__(self, cert: str, key: str, rtt_ms: float) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(self.port), cert, key, str(rtt_ms / 1000)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # aiosmtpd's deprecation chatter about its own AUTH
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"

    def stop(self) -> tuple[int, float]:
        """How many messages it received, and the CPU seconds it used."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        received = int(self.process.stdout.read().strip().splitlines()[-1])
        _, _, usage = os.wait4(self.process.pid, 0)
        self.process.returncode = 0
        return received, usage.ru_utime + usage.ru_stime


def _subscriber():  # type: ignore[no-untyped-def]
    from briefing.config import Subscriber

    return Subscriber(email="r@example.org")


if __name__ == "__main__":
    main()
