"""Feed fixtures built at test time from real RSS items of the ANT corpus (../shared/data).

The corpus kept the fields of each feed item (title, link, pubDate, description) and the body,
not the feed XML: these helpers write one RSS 2.0 or Atom document per source and day from
those real items. Nothing of the corpus is stored in the repository.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from email.utils import parsedate_to_datetime
from functools import lru_cache
from html import escape
from pathlib import Path

from tests.shared_data import SHARED_DATA

DEV_WINDOW = "ant_multisource/feed_window_2018-04-01_07.jsonl"
EVAL_WINDOW = "ant_multisource/feed_window_2018-06-01_07.jsonl"

# ANT's site sections as briefing section ids (lowercase, as config requires).
SECTIONS = {
    "middleEast": "middleeast",
    "internationalNews": "world",
    "sport": "sport",
    "economy": "economy",
    "technology": "technology",
    "culture": "culture",
}
SECTION_TITLES = {
    "middleeast": "الشرق الأوسط",
    "world": "العالم",
    "sport": "رياضة",
    "economy": "اقتصاد",
    "technology": "تقنية",
    "culture": "ثقافة",
}


@lru_cache(maxsize=4)
def _read(name: str) -> tuple[dict, ...]:
    assert SHARED_DATA is not None
    with (SHARED_DATA / name).open(encoding="utf-8") as handle:
        return tuple(json.loads(line) for line in handle)


def load_items(name: str = DEV_WINDOW, days: Iterable[str] | None = None) -> tuple[dict, ...]:
    """The items of one ANT window, optionally only those of some days (YYYYMMDD)."""
    items = _read(name)
    wanted = set(days) if days else None
    return items if wanted is None else tuple(i for i in items if i["date"] in wanted)


def by_source_and_day(items: tuple[dict, ...]) -> dict[tuple[str, str], list[dict]]:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for item in items:
        groups[(item["source"], item["date"])].append(item)
    return dict(groups)


def rss(
    items: list[dict],
    title: str,
    *,
    link_of=lambda item: item["url"],
    full_text: bool = True,
    encoding: str = "utf-8",
) -> bytes:
    """An RSS 2.0 document; `full_text` adds the body as content:encoded."""
    entries = []
    for item in items:
        body = "".join(f"<p>{escape(p)}</p>" for p in item["text"].splitlines() if p.strip())
        content = f"<content:encoded><![CDATA[{body}]]></content:encoded>" if full_text else ""
        entries.append(
            f"<item><title>{escape(item['title'])}</title><link>{escape(link_of(item))}</link>"
            f'<guid isPermaLink="false">{item["docno"]}</guid>'
            f"<pubDate>{item['pub_time']}</pubDate>"
            f"<author>{escape(item.get('author') or '')}</author>"
            f"<description>{escape(item['abstract'])}</description>{content}</item>"
        )
    document = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        "<!-- Built at test time from real items of the ANT corpus (see tests/ant_feeds.py). -->\n"
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>{escape(title)}</title><link>http://example.org/</link>"
        f"<description>{escape(title)}</description>{''.join(entries)}</channel></rss>"
    )
    return document.encode(encoding)


def atom(items: list[dict], title: str, *, link_of=lambda item: item["url"]) -> bytes:
    entries = []
    for item in items:
        when = parsedate_to_datetime(item["pub_time"]).isoformat()
        body = "".join(f"<p>{escape(p)}</p>" for p in item["text"].splitlines() if p.strip())
        entries.append(
            f"<entry><title>{escape(item['title'])}</title>"
            f'<link rel="alternate" href="{escape(link_of(item))}"/>'
            f"<id>urn:ant:{item['docno']}</id><updated>{when}</updated>"
            f"<summary>{escape(item['abstract'])}</summary>"
            f'<content type="html">{escape(body)}</content></entry>'
        )
    document = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(title)}</title><id>urn:test:{escape(title)}</id>"
        f"<updated>2018-04-07T00:00:00Z</updated>{''.join(entries)}</feed>"
    )
    return document.encode("utf-8")


def article_page(item: dict) -> bytes:
    """An article page around a real body, with the furniture real pages carry."""
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in item["text"].splitlines() if p.strip())
    menu = "".join(f'<li><a href="/s{i}">قسم {i}</a></li>' for i in range(8))
    page = f"""<!DOCTYPE html><html lang="ar" dir="rtl"><head><meta charset="utf-8">
<title>{escape(item["title"])}</title><meta property="og:type" content="article"></head>
<body><header><nav><ul>{menu}</ul></nav></header>
<main><article><h1>{escape(item["title"])}</h1>{paragraphs}</article></main>
<aside><h3>اقرأ أيضا</h3><ul><li><a href="/x">خبر آخر</a></li></ul></aside>
<footer><p>جميع الحقوق محفوظة</p></footer></body></html>"""
    return page.encode("utf-8")


def shared(path: str) -> Path:
    assert SHARED_DATA is not None
    return SHARED_DATA / path


def feed_path(source: str, category: str) -> str:
    return f"/{source.lower()}/{SECTIONS[category]}.xml"


def build_documents(items: Iterable[dict]) -> dict[str, bytes]:
    """One RSS 2.0 document per (source, site section), keyed by URL path."""
    grouped: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        grouped[feed_path(item["source"], item["category"])].append(item)
    return {path: rss(members, path) for path, members in grouped.items()}


def feeds_yaml(base_url: str, items: Iterable[dict]) -> str:
    """A feeds.yaml listing every (source, section) feed of `items`, served under base_url."""
    lines = ["feeds:"]
    for source, category in sorted({(i["source"], i["category"]) for i in items}):
        lines += [
            f"  - name: {source} {SECTIONS[category]}",
            f"    url: {base_url}{feed_path(source, category)}",
            f"    section: {SECTIONS[category]}",
        ]
    return "\n".join(lines) + "\n"
