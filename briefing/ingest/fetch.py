"""Fetching feeds politely: conditional GET, timeouts, a size cap, local files for the demo."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from briefing.config import Feed, Ingest


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one request for a feed gave. `error` is set when nothing usable came back."""

    url: str  # the URL finally read (after redirects)
    status: int = 0
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    not_modified: bool = False
    permanent_url: str | None = None  # set when a 301/308 moved the feed


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


async def fetch(
    client: httpx.AsyncClient,
    feed: Feed,
    settings: Ingest,
    *,
    url: str,
    etag: str | None,
    last_modified: str | None,
    base_dir: Path,
) -> FetchResult:
    """GET one feed with If-None-Match / If-Modified-Since; never raises."""
    if url.startswith("file:"):
        return await asyncio.to_thread(read_file, url, base_dir, settings.max_bytes)
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return FetchResult(url=url, status=304, not_modified=True)
            content = bytearray()
            async for chunk in response.aiter_bytes():
                content.extend(chunk)
                if len(content) > settings.max_bytes:
                    return FetchResult(
                        url=url,
                        status=response.status_code,
                        error=f"response larger than ingest.max_bytes ({settings.max_bytes} bytes)",
                    )
            result_headers = {k.lower(): v for k, v in response.headers.items()}
            moved = _permanent_redirect(response)
            if response.status_code >= 400:
                return FetchResult(
                    url=str(response.url),
                    status=response.status_code,
                    headers=result_headers,
                    error=f"HTTP {response.status_code} {response.reason_phrase}",
                )
            return FetchResult(
                url=str(response.url),
                status=response.status_code,
                content=bytes(content),
                headers=result_headers,
                permanent_url=moved,
            )
    except httpx.TimeoutException:
        return FetchResult(url=url, error=f"timed out after {settings.timeout_seconds:g} s")
    except httpx.TooManyRedirects:
        return FetchResult(url=url, error="too many redirects (a redirect loop?)")
    except httpx.HTTPError as exc:
        return FetchResult(url=url, error=f"{exc.__class__.__name__}: {exc}")


def _permanent_redirect(response: httpx.Response) -> str | None:
    """The final URL when every hop to it was permanent (301/308); else None."""
    if not response.history:
        return None
    if all(r.status_code in (301, 308) for r in response.history):
        return str(response.url)
    return None


def make_client(settings: Ingest) -> httpx.AsyncClient:
    timeout = httpx.Timeout(settings.timeout_seconds, connect=min(10.0, settings.timeout_seconds))
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
