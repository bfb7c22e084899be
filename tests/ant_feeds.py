"""RSS documents built at run time from the ANT corpus items in ../shared/data/ant_multisource.

The corpus kept the fields of real RSS items, not the XML: these documents rebuild one RSS 2.0
feed per source and site section, so tests and benchmarks read real Arabic news through the
same ingestion code as live feeds. Nothing of the corpus is written into the repository.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import escape

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


def load_items(path: Path, days: Iterable[str] | None = None) -> list[dict]:
    wanted = set(days) if days else None
    with path.open(encoding="utf-8") as handle:
        items = [json.loads(line) for line in handle if line.strip()]
    return [i for i in items if wanted is None or i["date"] in wanted]


def feed_path(source: str, category: str) -> str:
    return f"/{source.lower()}/{SECTIONS[category]}.xml"


def build_documents(items: list[dict]) -> dict[str, bytes]:
    """One RSS 2.0 document per (source, section), keyed by URL path."""
    grouped: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        grouped[feed_path(item["source"], item["category"])].append(item)
    return {path: _rss(path, members).encode("utf-8") for path, members in grouped.items()}


def feeds_yaml(base_url: str, items: list[dict]) -> str:
    """A feeds.yaml listing every (source, section) feed of `items`."""
    lines = ["feeds:"]
    for source, category in sorted({(i["source"], i["category"]) for i in items}):
        path = feed_path(source, category)
        lines += [
            f"  - name: {source} {SECTIONS[category]}",
            f"    url: {base_url}{path}",
            f"    section: {SECTIONS[category]}",
        ]
    return "\n".join(lines) + "\n"


def _rss(path: str, items: list[dict]) -> str:
    entries = "\n".join(_item(i) for i in items)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">\n'
        f"<channel><title>{escape(path)}</title><link>http://example.org{escape(path)}</link>"
        "<description>Rebuilt from the ANT corpus (test fixture)</description>\n"
        f"{entries}\n</channel></rss>\n"
    )


def _item(item: dict) -> str:
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in item["text"].splitlines() if p.strip())
    return (
        "<item>"
        f"<title>{escape(item['title'])}</title>"
        f"<link>{escape(item['url'])}</link>"
        f'<guid isPermaLink="false">{escape(item["docno"])}</guid>'
        f"<pubDate>{escape(item['pub_time'])}</pubDate>"
        f"<author>{escape(item.get('author') or '')}</author>"
        f"<description>{escape(item.get('abstract') or '')}</description>"
        f"<content:encoded><![CDATA[{paragraphs}]]></content:encoded>"
        "</item>"
    )
