"""The HTML digest in a real browser engine, at phone (360 px) and Gmail-pane (600 px) widths.

Needs Debian's `chromium` (the CI script installs it, with fonts-noto-core for Arabic).
Screenshots land in the test's temporary folder, or in $BRIEFING_SCREENSHOTS when set.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from briefing.config import Subscriber
from briefing.digest.render import render_digest
from tests import chromium
from tests.digest_fixtures import (
    fixed_config,
    fixed_edition,
    grew_over_days,
    latin_led,
    subscriber,
    with_story,
)
from tests.test_render import _hostile_edition

pytestmark = pytest.mark.skipif(
    not chromium.available(),
    reason=f"needs headless Chromium at {chromium.CHROMIUM} (apt-get install chromium); absent",
)

# Everything the assertions need, measured by the page itself.
_MEASURE = """
(() => {
  const style = (e) => getComputedStyle(e);
  const width = document.documentElement.clientWidth;
  const stories = [...document.querySelectorAll('.story')];
  const overflowing = [...document.body.querySelectorAll('*')]
    .filter((e) => { const r = e.getBoundingClientRect();
                     return r.width > 0 && (r.right > width + 0.5 || r.left < -0.5); })
    .map((e) => e.tagName + '.' + e.className);
  // Right-to-left for real: every headline's text reaches its block's right edge.
  const ragged = stories.map((s) => s.querySelector('.headline')).filter((h) => {
    const range = document.createRange(); range.selectNodeContents(h);
    const right = Math.max(...[...range.getClientRects()].map((r) => r.right));
    return Math.abs(h.getBoundingClientRect().right - right) > 2;
  }).map((h) => h.textContent.trim());
  return {
    width,
    scrollWidth: document.documentElement.scrollWidth,
    bodyDirection: style(document.body).direction,
    bodyAlign: style(document.body).textAlign,
    storyDirections: stories.map((s) => style(s).direction),
    tableDirections: [...document.querySelectorAll('table')].map((t) => style(t).direction),
    overflowing,
    ragged,
    background: style(document.querySelector('.page')).backgroundColor,
    links: [...document.querySelectorAll('a[href]')]
      .filter((a) => !a.getAttribute('href').startsWith('#')).map((a) => a.protocol),
    scripts: document.scripts.length,
  };
})()
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[chromium.Browser]:
    instance = chromium.Browser()
    yield instance
    instance.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    chosen = os.environ.get("BRIEFING_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _page(
    tmp_path: Path, who: str | Subscriber = "reader@example.org", hostile: bool = False
) -> str:
    edition = _hostile_edition() if hostile else fixed_edition()
    reader = subscriber(who) if isinstance(who, str) else who
    digest = render_digest(edition, reader, fixed_config(tmp_path))
    path = tmp_path / f"{reader.email}.html"
    path.write_text(digest.html or "", encoding="utf-8")
    return path.as_uri()


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack("!II", data[16:24])
    return int(width), int(height)


@pytest.mark.parametrize("width", [360, 600])
def test_digest_reads_right_to_left_in_one_column_without_overflow(
    browser: chromium.Browser, tmp_path: Path, shots: Path, width: int
) -> None:
    browser.open(_page(tmp_path), width)
    seen = browser.evaluate(_MEASURE)
    shot = browser.screenshot(shots / f"digest-{width}.png")
    assert _png_size(shot)[0] == width
    assert seen["width"] == width
    assert seen["bodyDirection"] == "rtl" and seen["bodyAlign"] in ("right", "start")
    assert seen["storyDirections"] == ["rtl"] * len(fixed_edition().stories)
    assert set(seen["tableDirections"]) == {"rtl"}
    assert seen["scrollWidth"] <= width, "the page scrolls sideways"
    assert seen["overflowing"] == []
    assert seen["ragged"] == [], "headlines must sit against the right edge"
    assert browser.problems() == []


def test_dark_mode_repaints_the_page(browser: chromium.Browser, tmp_path: Path) -> None:
    url = _page(tmp_path)
    browser.open(url, 360)
    light = browser.evaluate(_MEASURE)["background"]
    browser.open(url, 360, dark=True)
    dark = browser.evaluate(_MEASURE)["background"]
    channels = [int(c) for c in dark.removeprefix("rgb(").rstrip(")").split(",")[:3]]
    assert light != dark and max(channels) < 80, (light, dark)


def test_hostile_feed_text_runs_nothing(
    browser: chromium.Browser, tmp_path: Path, shots: Path
) -> None:
    browser.open(_page(tmp_path, hostile=True), 360)
    seen = browser.evaluate(_MEASURE)
    browser.screenshot(shots / "hostile-360.png")
    assert seen["scripts"] == 0
    assert set(seen["links"]) <= {"https:", "http:", "mailto:"}
    assert browser.problems() == []  # no alert() dialog, no error


def test_index_numbers_in_eastern_arabic_digits_as_the_reader_sees_them(
    browser: chromium.Browser, tmp_path: Path
) -> None:
    browser.open(_page(tmp_path, Subscriber(email="e@example.org", eastern_digits=True)), 360)
    seen = browser.evaluate(
        """[...document.querySelectorAll('.index .entry')].map((e) => ({
             text: e.innerText.trim(), display: getComputedStyle(e).display }))"""
    )
    assert [entry["text"][:2] for entry in seen] == ["١.", "٢.", "٣.", "٤.", "٥."]
    assert {entry["display"] for entry in seen} == {"block"}  # no list marker beside them


def test_english_interface_reads_left_to_right_inside_the_arabic_page(
    browser: chromium.Browser, tmp_path: Path
) -> None:
    english = Subscriber(email="en@example.org", name="سارة", language="en")
    browser.open(_page(tmp_path, english), 360)
    seen = browser.evaluate(_MEASURE)
    labels = browser.evaluate(
        """[...document.querySelectorAll('[lang="en"]')].map((e) => ({
             text: e.textContent.trim(), direction: getComputedStyle(e).direction }))"""
    )
    assert seen["bodyDirection"] == "rtl"
    assert seen["storyDirections"] == ["rtl"] * len(fixed_edition().stories)
    assert seen["overflowing"] == [] and seen["ragged"] == []
    assert {"Top stories", "Unsubscribe", "3 sources"} <= {label["text"] for label in labels}
    assert {label["direction"] for label in labels} == {"ltr"}
    assert browser.problems() == []


# Where each character of the first story's headline is drawn, and on which line.
_GLYPHS = """
(() => {
  const node = document.querySelector('#story-1 .headline span').firstChild;
  const boxes = [];
  for (let i = 0; i < node.textContent.length; i++) {
    const range = document.createRange();
    range.setStart(node, i); range.setEnd(node, i + 1);
    const box = range.getBoundingClientRect();
    boxes.push({ch: node.textContent[i], left: box.left, top: Math.round(box.top)});
  }
  return {text: node.textContent, boxes};
})()
"""


@pytest.mark.parametrize("width", [360, 600])
def test_latin_words_in_an_arabic_headline_keep_their_order(
    browser: chromium.Browser, tmp_path: Path, width: int
) -> None:
    # The feed slipped a right-to-left override (U+202E) before the Latin name: unless the
    # renderer strips it, the browser draws the rest of the line backwards ("aveneG").
    edition = fixed_edition()
    first = edition.stories[0]
    lead = first.story.articles[0]
    title = "وزير الخارجية يلتقي نظيره في \u202eGeneva لبحث اتفاق COP31"
    story = replace(first.story, articles=(replace(lead, title=title), *first.story.articles[1:]))
    edition = replace(edition, stories=(replace(first, story=story), *edition.stories[1:]))
    assert edition.stories[0].story.headline == title  # the override reaches the renderer
    path = tmp_path / "mixed.html"
    path.write_text(
        render_digest(edition, subscriber("reader@example.org"), fixed_config(tmp_path)).html or "",
        encoding="utf-8",
    )
    browser.open(path.as_uri(), width)
    seen = browser.evaluate(_GLYPHS)
    text, boxes = seen["text"], seen["boxes"]
    for word in ("Geneva", "COP31"):
        start = text.index(word)
        glyphs = boxes[start : start + len(word)]
        assert len({g["top"] for g in glyphs}) == 1, f"{word} is split across lines"
        lefts = [g["left"] for g in glyphs]
        assert lefts == sorted(lefts) and len(set(lefts)) == len(lefts), (word, glyphs)
    # And the Latin name sits where it belongs in the right-to-left sentence: after "في",
    # so to its left when both are on one line.
    before = boxes[text.index("في ")]
    name = boxes[text.index("Geneva")]
    if before["top"] == name["top"]:
        assert name["left"] < before["left"]


def test_arabic_sentences_that_open_with_latin_read_right_to_left_on_a_phone(
    browser: chromium.Browser, tmp_path: Path, shots: Path
) -> None:
    # "(CNN)-- تجددت ...": under dir="auto" the Latin credit made the item left to right,
    # its bullet outside the page's left edge, and the page scrolled sideways (364 px).
    edition = with_story(fixed_edition(), latin_led())
    path = tmp_path / "latin-led.html"
    digest = render_digest(edition, subscriber("reader@example.org"), fixed_config(tmp_path))
    path.write_text(digest.html or "", encoding="utf-8")
    browser.open(path.as_uri(), 360)
    seen = browser.evaluate(_MEASURE)
    items = browser.evaluate(
        """[...document.querySelectorAll('#story-1 .points li')].map((li) => ({
             text: li.textContent.trim(), direction: getComputedStyle(li).direction }))"""
    )
    headline = browser.evaluate(
        "getComputedStyle(document.querySelector('#story-1 .headline span')).direction"
    )
    browser.screenshot(shots / "latin-led-360.png")
    assert seen["scrollWidth"] == seen["width"], "the page scrolls sideways"
    assert seen["overflowing"] == [] and seen["ragged"] == []
    assert [item["text"][:7] for item in items] == ["(CNN)--", "Protest"]
    assert [item["direction"] for item in items] == ["rtl", "ltr"]
    assert headline == "rtl"
    assert browser.problems() == []


# Each source's name and its time: on which lines they are drawn.
_SOURCES = """
[...document.querySelectorAll('.sources .source')].map((unit) => {
  const name = unit.querySelector('.name');
  const day = unit.querySelector('.day');
  const time = unit.lastElementChild;
  const lines = [...name.getClientRects()].map((r) => Math.round(r.top));
  const top = (element) => Math.round(element.getBoundingClientRect().top);
  return {name: name.textContent, nameLines: [...new Set(lines)], timeLine: top(time),
          dayLine: day ? top(day) : null};
})
"""


@pytest.mark.parametrize("width", [360, 600])
def test_a_source_name_and_its_time_are_never_split_across_lines(
    browser: chromium.Browser, tmp_path: Path, shots: Path, width: int
) -> None:
    # At 360 px "صحيفة الساحل" ended one line of the summit's sources and "05:30" began
    # the next. And a name longer than a line still must not push the page sideways.
    edition = fixed_edition()
    fair = edition.stories[-1]
    long_name = "Sahel Culture and Books Weekly / international literature and arts desk"
    article = replace(fair.story.articles[0], source=long_name)
    fair = replace(fair, story=replace(fair.story, articles=(article,)))
    edition = replace(edition, stories=(*edition.stories[:-1], fair))
    edition = with_story(edition, grew_over_days())  # two sources with a day before the time
    path = tmp_path / "sources.html"
    digest = render_digest(edition, subscriber("reader@example.org"), fixed_config(tmp_path))
    path.write_text(digest.html or "", encoding="utf-8")
    browser.open(path.as_uri(), width)
    sources = browser.evaluate(_SOURCES)
    seen = browser.evaluate(_MEASURE)
    browser.screenshot(shots / f"sources-{width}.png")
    assert len(sources) == 21
    assert [s["dayLine"] == s["timeLine"] for s in sources if s["dayLine"] is not None] == [
        True,
        True,
    ], "a source's day is on another line than its time"
    split = [s["name"] for s in sources if s["name"] != long_name and len(s["nameLines"]) != 1]
    assert split == [], "a short source name wraps"
    apart = [s["name"] for s in sources if s["nameLines"][-1] != s["timeLine"]]
    assert apart == [], "a source's time is on another line than its name"
    assert seen["scrollWidth"] <= width and seen["overflowing"] == []
