"""robots.txt for article pages (RFC 9309).

Feeds are published for programs to read; article pages are the site's, and its robots.txt
says which of them programs may fetch. Before a page is fetched for its full text, the
site's robots.txt is read (once a day per site: it is kept in the page cache), and a page it
disallows for our user agent is not fetched: the item keeps the text its feed gave.

Read as RFC 9309 and the large crawlers read it: the groups naming our product token
(`ingest.user_agent` up to its "/", case-insensitive), else the "*" groups; in them the
longest matching Allow or Disallow path, with "*" and a final "$"; Allow wins a tie. A
robots.txt that does not exist (4xx) allows everything; one that cannot be read (5xx, 429,
timeout) disallows every page of the site for this run, and is asked again the next.
Python's urllib.robotparser is not used: it takes the first rule that matches, not the
longest, and reads "*" in a path literally.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote, urlsplit

from briefing.ingest.fetch import Fetcher
from briefing.store import Store

FRESH_FOR = timedelta(hours=24)  # how long a robots.txt read is trusted (as Google does)


@dataclass(frozen=True, slots=True)
class Rule:
    allow: bool
    pattern: re.Pattern[str]
    length: int  # of the path as written: the longest match wins


@dataclass(frozen=True, slots=True)
class RobotsRules:
    """The rules of one robots.txt that apply to one user agent."""

    rules: tuple[Rule, ...] = ()

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        path = unquote(parts.path or "/") + (f"?{unquote(parts.query)}" if parts.query else "")
        if path == "/robots.txt":
            return True
        best: Rule | None = None
        for rule in self.rules:
            if rule.pattern.match(path) and (
                best is None
                or rule.length > best.length
                or (rule.length == best.length and rule.allow)
            ):
                best = rule
        return best is None or best.allow


def product_token(user_agent: str) -> str:
    """'briefing/0.1 (+https://...)' -> 'briefing'."""
    return user_agent.split("/", 1)[0].split()[0].lower() if user_agent.strip() else ""


def parse_robots(text: str, user_agent: str) -> RobotsRules:
    """The rules of `text` for `user_agent`: its own groups if any name it, else "*"."""
    token = product_token(user_agent)
    groups: list[tuple[set[str], list[Rule]]] = []
    agents: set[str] = set()
    rules: list[Rule] = []
    for line in text.splitlines():
        field, _, value = line.split("#", 1)[0].partition(":")
        field, value = field.strip().lower(), value.strip()
        if field == "user-agent":
            if rules:  # a user-agent line after rules starts a new group
                groups.append((agents, rules))
                agents, rules = set(), []
            agents.add(value.lower())
        elif field in ("allow", "disallow") and agents and value:
            rules.append(Rule(field == "allow", _path_pattern(value), len(value)))
    if agents:
        groups.append((agents, rules))
    own = [rule for names, group in groups if token in names for rule in group]
    if any(token in names for names, _ in groups):
        return RobotsRules(tuple(own))
    return RobotsRules(tuple(rule for names, group in groups if "*" in names for rule in group))


def _path_pattern(path: str) -> re.Pattern[str]:
    """A robots.txt path as a regular expression matched from the path's start: "*" is any
    run of characters, a final "$" the end."""
    path = unquote(path)
    anchored = path.endswith("$")
    body = ".*".join(re.escape(piece) for piece in path.removesuffix("$").split("*"))
    return re.compile(body + (r"\Z" if anchored else ""), re.DOTALL)


class Robots:
    """The robots.txt rules of every site one ingest run fetches pages from."""

    def __init__(
        self, fetcher: Fetcher, store: Store | None, now: datetime, user_agent: str
    ) -> None:
        """`store` keeps each robots.txt a day (None: read afresh, for a one-off probe)."""
        self.fetcher = fetcher
        self.store = store
        self.now = now
        self.user_agent = user_agent
        self.sites: dict[str, asyncio.Task[RobotsRules | str]] = {}

    async def refusal(self, url: str) -> str | None:
        """Why `url` may not be fetched, or None when it may."""
        parts = urlsplit(url)
        site = f"{parts.scheme}://{parts.netloc}"
        if site not in self.sites:
            self.sites[site] = asyncio.create_task(self._rules(f"{site}/robots.txt"))
        rules = await self.sites[site]
        if isinstance(rules, str):
            return rules
        return None if rules.allows(url) else f"{site}/robots.txt disallows it"

    async def _rules(self, robots_url: str) -> RobotsRules | str:
        """The rules for us, or why the site's pages are not fetched this run."""
        cached = self.store.cached_page(robots_url) if self.store else None
        if cached is not None and cached["fetched_at"] >= self.now - FRESH_FOR:
            status, text = cached["status"], cached["text"] or ""
        else:
            result = await self.fetcher.get(robots_url, page=True)
            if result.refused:  # a private address: the page is refused too, and says why
                return RobotsRules()
            if result.error and not _missing(result.status):
                # Unreadable (5xx, 429, timeout): every page disallowed until it can be read.
                return f"{robots_url} cannot be read ({result.error}), so no page of the site is"
            status = result.status
            text = result.content.decode("utf-8", "replace") if result.error is None else ""
            if self.store:
                self.store.cache_page(
                    robots_url, fetched_at=self.now, status=status, text=text, error=result.error
                )
        if _missing(status):  # no robots.txt: everything allowed
            return RobotsRules()
        return parse_robots(text, self.user_agent)


def _missing(status: int) -> bool:
    """A 4xx says there is no robots.txt, except 429: the site asks us to come back later
    (read as unreachable, as Google does)."""
    return 400 <= status < 500 and status != 429
