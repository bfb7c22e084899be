"""Fetching politely: limits per host and overall, conditional GET, timeouts, a size cap.

One `Fetcher` serves a whole run (feeds and article pages alike), so that the limits hold
across both. It never raises: every problem comes back as `FetchResult.error`, worded for an
operator reading `briefing feeds`.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

import httpx

from briefing.config import Ingest

WEB_SCHEMES = ("http", "https")


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one request gave. `error` is set when nothing usable came back."""

    url: str  # the URL finally read (after redirects)
    status: int = 0
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    not_modified: bool = False
    permanent_url: str | None = None  # set when only 301/308 hops led to `url`
    retry_after: str | None = None  # a 429/503's Retry-After header, as sent
    gone: bool = False  # 410: the publisher says the feed is gone for good


def resolve_file_url(url: str, base_dir: Path) -> Path:
    """`file:feeds/a.xml` is relative to the config folder; `file:///abs/a.xml` is absolute."""
    parts = urlsplit(url)
    path = Path(unquote(parts.path))
    return path if path.is_absolute() else base_dir / path


def read_file(url: str, base_dir: Path, max_bytes: int) -> FetchResult:
    path = resolve_file_url(url, base_dir)
    try:
        with path.open("rb") as handle:
            content = handle.read(max_bytes + 1)
    except OSError as exc:
        return FetchResult(url=url, error=f"cannot read {path}: {exc.strerror}")
    if len(content) > max_bytes:
        return FetchResult(url=url, error=f"file larger than ingest.max_bytes ({max_bytes} bytes)")
    return FetchResult(url=url, status=200, content=content)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class Fetcher:
    """An httpx client plus the run's limits: `concurrency` overall, `per_host` per host."""

    def __init__(self, settings: Ingest, base_dir: Path, *, allow_files: bool = False) -> None:
        self.settings = settings
        self.base_dir = base_dir
        self.allow_files = allow_files
        self._all = asyncio.Semaphore(settings.concurrency)
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.per_host)
        )
        self.client = make_client(settings)

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.client.aclose()

    def scheme_error(self, url: str) -> str | None:
        scheme = urlsplit(url).scheme.lower()
        if scheme in WEB_SCHEMES or (scheme == "file" and self.allow_files):
            return None
        if scheme == "file":
            return "file: URLs are off (ingest.allow_file_urls is false)"
        return f"scheme {scheme or '(none)'!r} is not allowed (only http and https)"

    async def get(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """GET with If-None-Match / If-Modified-Since, within the limits; never raises."""
        problem = self.scheme_error(url)
        if problem:
            return FetchResult(url=url, error=problem)
        if urlsplit(url).scheme.lower() == "file":
            return await asyncio.to_thread(read_file, url, self.base_dir, self.settings.max_bytes)
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        host = (urlsplit(url).hostname or "").lower()
        # The host's slot first: a request queued behind its busy host must not hold one of
        # the global slots meanwhile, or other hosts' requests wait for nothing.
        async with self._hosts[host], self._all:
            try:
                async with asyncio.timeout(self.settings.deadline_seconds):
                    return await self._get(url, headers)
            except TimeoutError:
                return FetchResult(
                    url=url, error=f"no complete answer within {self.settings.deadline_seconds:g} s"
                )

    async def _get(self, url: str, headers: dict[str, str]) -> FetchResult:
        cap = self.settings.max_bytes
        try:
            async with self.client.stream("GET", url, headers=headers) as response:
                status = response.status_code
                final = str(response.url)
                result_headers = {k.lower(): v for k, v in response.headers.items()}
                if status == 304:
                    return FetchResult(url=final, status=304, not_modified=True)
                if status >= 400:
                    return _http_error(final, status, response.reason_phrase, result_headers)
                declared = result_headers.get("content-length", "")
                if declared.isdigit() and int(declared) > cap:
                    return FetchResult(url=final, status=status, error=_too_big(cap, declared))
                content = bytearray()
                async for chunk in response.aiter_bytes():  # decoded: the cap holds for gzip too
                    content.extend(chunk)
                    if len(content) > cap:
                        return FetchResult(url=final, status=status, error=_too_big(cap))
                return FetchResult(
                    url=final,
                    status=status,
                    content=bytes(content),
                    headers=result_headers,
                    permanent_url=_permanent_redirect(response),
                )
        except httpx.ConnectTimeout:
            timeout = self.settings.connect_timeout_seconds
            return FetchResult(url=url, error=f"could not connect within {timeout:g} s")
        except httpx.TimeoutException:
            return FetchResult(
                url=url, error=f"no answer within {self.settings.timeout_seconds:g} s (timeout)"
            )
        except httpx.TooManyRedirects:
            return FetchResult(url=url, error="too many redirects (a redirect loop?)")
        except httpx.UnsupportedProtocol as exc:
            return FetchResult(url=url, error=f"redirected to an unsupported scheme: {exc}")
        except httpx.HTTPError as exc:
            return FetchResult(url=url, error=f"{exc.__class__.__name__}: {exc}")


def _http_error(url: str, status: int, reason: str, headers: dict[str, str]) -> FetchResult:
    retry_after = headers.get("retry-after") if status in (429, 503) else None
    error = f"HTTP {status} {reason}".rstrip()
    if retry_after:
        error += f" (Retry-After: {retry_after})"
    return FetchResult(
        url=url,
        status=status,
        headers=headers,
        error=error,
        retry_after=retry_after,
        gone=status == 410,
    )


def _too_big(cap: int, declared: str = "") -> str:
    size = f" (declared {declared} bytes)" if declared else ""
    return f"response larger than ingest.max_bytes ({cap} bytes){size}"


def _permanent_redirect(response: httpx.Response) -> str | None:
    """The final URL when every hop to it was permanent (301/308); else None."""
    if not response.history:
        return None
    if all(r.status_code in (301, 308) for r in response.history):
        return str(response.url)
    return None


def make_client(settings: Ingest) -> httpx.AsyncClient:
    timeout = httpx.Timeout(
        settings.timeout_seconds,
        connect=settings.connect_timeout_seconds,
        pool=settings.deadline_seconds,
    )
    limits = httpx.Limits(
        max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
    )
    return httpx.AsyncClient(
        timeout=timeout,
        limits=limits,
        follow_redirects=True,
        max_redirects=5,
        headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"},
    )
