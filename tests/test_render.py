"""The rendered digest: right-to-left HTML, the plain-text twin, counts, dates, safety."""

from __future__ import annotations

import html as htmllib
import os
import re
import shutil
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from briefing.config import Config, Subscriber
from briefing.digest.render import (
    LINE_OCTETS,
    TEMPLATES_DIR,
    ascii_url,
    compact_lines,
    count_phrase,
    edition_date,
    line_mark,
    load_strings,
    plural_category,
    render_digest,
    safe_url,
    stories_for,
    text_direction,
)
from briefing.models import Digest, Edition
from tests.digest_fixtures import (
    fixed_config,
    fixed_edition,
    grew_over_days,
    latin_led,
    one_source_twice,
    ranked_sections,
    subscriber,
    with_story,
)


def _render(tmp_path: Path, email: str, edition: Edition | None = None) -> Digest:
    return render_digest(edition or fixed_edition(), subscriber(email), fixed_config(tmp_path))


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text, as a browser would parse them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    return parser


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, "مصدر واحد"),
        (2, "مصدران"),
        (3, "3 مصادر"),
        (10, "10 مصادر"),
        (11, "11 مصدرًا"),
        (99, "99 مصدرًا"),
        (100, "100 مصدر"),
        (102, "102 مصدر"),
        (103, "103 مصادر"),
        (111, "111 مصدرًا"),
    ],
)
def test_number_of_sources_agrees_in_arabic(n: int, expected: str) -> None:
    assert count_phrase(n, load_strings()["ar"]["sources"]) == expected


def test_english_plural_has_two_forms() -> None:
    forms = load_strings()["en"]["sources"]
    assert [count_phrase(n, forms, "en") for n in (1, 2, 11)] == [
        "1 source",
        "2 sources",
        "11 sources",
    ]
    assert plural_category(2, "en") == "other"


def test_edition_date_in_gregorian_and_hijri_arabic() -> None:
    from datetime import date

    line = edition_date(date(2026, 11, 29))
    assert line.gregorian == "الأحد 29 نوفمبر 2026"
    assert line.hijri == "19 جمادى الآخرة 1448 هـ"
    assert edition_date(date(2026, 11, 29), "en").hijri.endswith("1448 AH")
    assert edition_date(date(2100, 1, 1)).hijri == ""  # beyond hijridate's table: left out


def test_html_is_right_to_left_with_inline_direction_on_body_and_every_table(
    tmp_path: Path,
) -> None:
    page = _render(tmp_path, "reader@example.org").html
    assert page is not None
    assert '<html lang="ar" dir="rtl">' in page
    parsed = _parse(page)
    inline = {tag: attrs.get("style") or "" for tag, attrs in parsed.tags if tag in ("body",)}
    assert "direction: rtl" in inline["body"] and "text-align: right" in inline["body"]
    tables = [attrs for tag, attrs in parsed.tags if tag == "table"]
    assert tables, "the layout is table-based for Outlook and Gmail"
    for attrs in tables:
        assert attrs.get("dir") == "rtl"
        assert "direction: rtl" in (attrs.get("style") or "")
        assert "text-align: right" in (attrs.get("style") or "")
    # Gmail drops <head> styles: only the dark-mode media query may stay there.
    head_css = re.findall(r"<style>(.*?)</style>", page, re.S)
    assert all(css.strip().startswith("@media (prefers-color-scheme: dark)") for css in head_css)
    assert 'name="color-scheme" content="light dark"' in page
    # Mixed Arabic/Latin text is isolated: every headline has a dir of its own (by the
    # majority of its letters, see text_direction).
    headlines = re.findall(r'<h3 class="headline"[^>]*><span dir="(\w+)">', page)
    assert headlines == ["rtl", "rtl", "rtl", "rtl", "ltr"]  # the last one is in English


def test_no_fixed_width_wider_than_a_phone(tmp_path: Path) -> None:
    page = _render(tmp_path, "reader@example.org").html or ""
    widths = [int(w) for w in re.findall(r"(?<![-\w])width:\s*(\d+)px", page)]
    assert all(w <= 360 for w in widths), widths
    assert "max-width: 600px" in page


def test_content_header_index_sections_sources_and_markers(tmp_path: Path) -> None:
    digest = _render(tmp_path, "reader@example.org")
    text = digest.text
    assert "الأحد 29 نوفمبر 2026 · 19 جمادى الآخرة 1448 هـ" in text
    assert digest.subject == "موجز الصباح | الأحد 29 نوفمبر 2026"
    index = text.split("أبرز العناوين:")[1].split("==")[0]
    assert [line.split(". ", 1)[0] for line in index.strip().splitlines()] == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]
    sections = re.findall(r"^== (.+) ==$", text, re.M)
    assert sections == ["سياسة", "اقتصاد", "رياضة", "ثقافة"]  # the order of briefing.yaml
    assert "3 مصادر:" in text and "مصدران:" in text and "11 مصدرًا:" in text
    assert "المصدر:" in text  # a story from one source says so, without a number
    assert text.count("[محدّث]") == 1  # only the story that grew since the last edition
    assert text.count("[ملخص آلي]") == 1  # the one abstract, marked as machine-written
    assert "https://news.example.org/summit/0" in text
    assert "(04:30)" in text  # 01:30 UTC: publication time in the edition's zone (Asia/Riyadh)


def test_text_part_carries_the_same_content_as_html(tmp_path: Path) -> None:
    digest = _render(tmp_path, "reader@example.org")
    page = " ".join(htmllib.unescape(digest.html or "").split())  # as a browser collapses it
    for item in fixed_edition().stories:
        pieces = [item.story.headline, *(s.text for s in item.summary.key_sentences)]
        pieces += [a.source for a in item.story.articles] + [a.url for a in item.story.articles]
        if item.summary.abstract:
            pieces.append(item.summary.abstract)
        for piece in pieces:
            assert " ".join(piece.split()) in page, piece
            assert piece in digest.text, piece


def test_subscriber_sections_max_stories_and_text_only(tmp_path: Path) -> None:
    economy = _render(tmp_path, "economy@example.org")
    assert economy.story_ids == ("rates",)
    assert "== اقتصاد ==" in economy.text and "سياسة" not in economy.text
    text_only = _render(tmp_path, "text-only@example.org")
    assert text_only.html is None and len(text_only.story_ids) == 5


def test_eastern_digits_change_interface_numbers_not_the_news(tmp_path: Path) -> None:
    text = _render(tmp_path, "text-only@example.org").text
    assert "الأحد ٢٩ نوفمبر ٢٠٢٦ · ١٩ جمادى الآخرة ١٤٤٨ هـ" in text
    assert "٣ مصادر:" in text and "١١ مصدرًا:" in text and "(٠٤:٣٠)" in text
    assert "\n١. " in text
    assert "4.25%" in text  # the headline as published


def _news_text(edition: Edition) -> set[str]:
    """Every piece of feed text in an edition: shown as published, digits and all."""
    pieces: set[str] = set()
    for item in edition.stories:
        pieces |= {item.story.headline, *(s.text for s in item.summary.key_sentences)}
        pieces |= {a.source for a in item.story.articles}
        if item.summary.abstract:
            pieces.add(item.summary.abstract)
    return pieces


def test_eastern_digits_reach_every_interface_number_of_the_html(tmp_path: Path) -> None:
    eastern = Subscriber(email="eastern@example.org", eastern_digits=True)
    page = render_digest(fixed_edition(), eastern, fixed_config(tmp_path)).html or ""
    parsed = _parse(re.sub(r"<style>.*?</style>", "", page, flags=re.S))
    news = _news_text(fixed_edition())
    shown = [" ".join(t.split()) for t in parsed.text if t.strip()]
    interface = [p for t in shown for p in t.split(" · ") if p not in news]  # preheader
    # The index is numbered in the text itself, not by the browser's list markers (which
    # would be Western digits): ١. to ٥. in order, and no <ol> left to number it again.
    assert [t for t in shown if re.fullmatch("[٠-٩]+", t)] == ["١", "٢", "٣", "٤", "٥"]
    assert "ol" not in {tag for tag, _ in parsed.tags}
    # Dates, the story count, "N sources" and times: no Western digit anywhere outside
    # the news, which keeps its own digits.
    assert [t for t in interface if re.search("[0-9]", t)] == []
    joined = " ".join(shown)
    for expected in ("٢٩ نوفمبر ٢٠٢٦", "١٤٤٨ هـ", "٥ أخبار", "٣ مصادر", "١١ مصدرًا", "٠٤:٣٠"):
        assert expected in joined, expected
    assert "4.25%" in joined  # the headline as published
    western = _render(tmp_path, "reader@example.org").html or ""
    assert [t for t in _parse(western).text if re.fullmatch("[0-9]+", t.strip())][:5] == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]


def test_english_interface_strings(tmp_path: Path) -> None:
    digest = _render(tmp_path, "english@example.org")
    assert "Top stories:" in digest.text and "3 sources:" in digest.text
    assert "[Machine-written summary]" in digest.text
    assert "Sunday 29 November 2026" in digest.subject
    assert "وزير الخارجية يلتقي" in digest.text  # the news is never translated


class _Scoped(HTMLParser):
    """Each text of the page with the lang and dir it inherits from its nearest ancestors."""

    VOID = frozenset({"meta", "br", "img", "hr", "link", "input", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[tuple[str, str | None, str | None]] = []  # (text, lang, dir)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            self.open.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        while self.open and self.open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if data.strip():
            inherited = [attrs for _, attrs in reversed(self.open)]
            lang = next((a["lang"] for a in inherited if a.get("lang")), None)
            direction = next((a["dir"] for a in inherited if a.get("dir")), None)
            self.texts.append((" ".join(data.split()), lang, direction))


def _scoped(page: str) -> dict[str, tuple[str | None, str | None]]:
    parser = _Scoped()
    parser.feed(re.sub(r"<style>.*?</style>", "", page, flags=re.S))
    return {text: (lang, direction) for text, lang, direction in parser.texts}


def test_english_interface_strings_are_marked_english_inside_the_arabic_page(
    tmp_path: Path,
) -> None:
    english = Subscriber(email="english@example.org", name="سارة", language="en")
    page = render_digest(fixed_edition(), english, fixed_config(tmp_path)).html or ""
    assert '<html lang="ar" dir="rtl">' in page  # the news is Arabic: so is the page
    scoped = _scoped(page)
    interface = [
        "Sunday 29 November 2026",  # the dateline
        "19 Jumada al-Akhirah 1448 AH",
        "Good morning",
        "5 stories",
        "Top stories",
        "Updated",
        "Machine-written summary",
        "3 sources",
        "11 sources",
        "2 sources",
        "Source",  # the label of a story with one source
        "Machine-written summary: Written by a language model and may contain errors; "
        "check the sources.",
        "Unsubscribe",
    ]
    for text in interface:
        assert scoped.get(text) == ("en", "ltr"), (text, scoped.get(text))
    # The news and the subscriber's name stay Arabic, right to left where they are Arabic.
    for item in fixed_edition().stories:
        assert scoped[item.story.headline][0] == "ar", item.story.headline
        assert scoped[item.summary.key_sentences[0].text][0] == "ar"
    assert scoped["سارة"][0] == "en" and "<bdi>سارة</bdi>" in page  # isolated in the greeting
    assert scoped["سياسة"] == ("ar", "auto")  # section titles come from briefing.yaml
    # An Arabic subscriber's page names no other language and keeps dir="auto" labels.
    arabic = _scoped(_render(tmp_path, "reader@example.org").html or "")
    assert {lang for lang, _ in arabic.values()} == {"ar"}
    assert arabic["أبرز العناوين"] == ("ar", "auto")


def _with_templates(tmp_path: Path, folder: str) -> Config:
    """The fixed configuration with `email.templates: folder` (relative to briefing.yaml)."""
    base = fixed_config(tmp_path)
    email = base.settings.email.model_copy(update={"templates": folder})
    return base.model_copy(update={"settings": base.settings.model_copy(update={"email": email})})


def test_editors_templates_are_used_with_the_stock_strings_as_fallback(tmp_path: Path) -> None:
    mine = tmp_path / "mine"  # an editor's copies, without strings.yaml
    mine.mkdir()
    for name in ("digest.html.j2", "digest.txt.j2"):
        template = (TEMPLATES_DIR / name).read_text(encoding="utf-8")
        (mine / name).write_text(template.replace("{{ t.index }}", "{{ t.index }} (اختيار المحرر)"))
    config = _with_templates(tmp_path, "mine")
    digest = render_digest(fixed_edition(), subscriber("reader@example.org"), config)
    # The edited templates, filled with the stock strings.
    assert "أبرز العناوين (اختيار المحرر):" in digest.text
    assert "أبرز العناوين (اختيار المحرر)</h2>" in (digest.html or "")
    assert "3 مصادر:" in digest.text  # plural forms from the stock strings.yaml
    stock = render_digest(fixed_edition(), subscriber("reader@example.org"), fixed_config(tmp_path))
    assert "اختيار المحرر" not in stock.text  # other configurations keep the stock templates


def test_an_edited_strings_file_is_read_again_by_a_running_process(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    shutil.copytree(TEMPLATES_DIR, mine)
    config = _with_templates(tmp_path, "mine")
    reader = subscriber("reader@example.org")
    assert "أبرز العناوين:" in render_digest(fixed_edition(), reader, config).text
    strings = mine / "strings.yaml"
    before = strings.stat()
    strings.write_text(
        strings.read_text(encoding="utf-8").replace("index: أبرز العناوين", "index: عناوين اليوم"),
        encoding="utf-8",
    )
    # A later modification time, as the editor's save would have (the test is faster than
    # the file system's clock can tell).
    os.utime(strings, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    edited = render_digest(fixed_edition(), reader, config)
    assert "عناوين اليوم:" in edited.text and "أبرز العناوين" not in edited.text
    assert "عناوين اليوم</h2>" in (edited.html or "")


def test_empty_digest_says_so(tmp_path: Path) -> None:
    empty = replace(fixed_edition(), stories=())
    digest = _render(tmp_path, "reader@example.org", empty)
    assert "لا أخبار جديدة في أقسامك هذا الصباح." in digest.text
    assert "لا أخبار جديدة" in (digest.html or "")


def _hostile_edition() -> Edition:
    edition = fixed_edition()
    first = edition.stories[0]
    lead = first.story.articles[0]
    hostile = replace(
        lead,
        title='عاجل <script>alert("x")</script> خبر',
        source='<img src=x onerror="alert(1)">وكالة',
        url="javascript:alert(document.cookie)",
    )
    story = replace(first.story, articles=(hostile, *first.story.articles[1:]))
    summary = replace(
        first.summary,
        abstract='ملخص <img src=x onerror=alert(2)> <a href="javascript:alert(3)">هنا</a>',
        key_sentences=(replace(first.summary.key_sentences[0], text="جملة\u202e معكوسة <b>و</b>"),),
    )
    return replace(edition, stories=(replace(first, story=story, summary=summary),))


def test_feed_markup_and_javascript_links_never_reach_the_email_live(tmp_path: Path) -> None:
    digest = _render(tmp_path, "reader@example.org", _hostile_edition())
    parsed = _parse(digest.html or "")
    tags = {tag for tag, _ in parsed.tags}
    assert not tags & {"script", "img", "b", "iframe", "object"}
    for tag, attrs in parsed.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for name in ("href", "src"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value.startswith(("javascript:", "data:", "vbscript:")), (tag, attrs)
    shown = "".join(parsed.text)
    assert '<script>alert("x")</script>' in shown  # escaped: readers see the text as text
    assert "javascript:alert(document.cookie)" not in digest.text  # the bad link is dropped
    assert "\u202e" not in shown and "\u202e" not in digest.text  # no bidi override leaks


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://example.org/a?b=1", True),
        ("http://example.org/", True),
        ("javascript:alert(1)", False),
        (" JaVaScRiPt:alert(1)", False),
        ("java\tscript:alert(1)", False),
        ("data:text/html,<script>x</script>", False),
        ("//example.org/x", False),
        ("file:///etc/passwd", False),
    ],
)
def test_only_http_links_survive(url: str, safe: bool) -> None:
    assert (safe_url(url) is not None) == safe


def test_html_comes_in_few_lines_that_render_the_same(tmp_path: Path) -> None:
    digest = _render(tmp_path, "reader@example.org")
    html = digest.html or ""
    lines = html.splitlines()
    assert max(len(line.encode("utf-8")) for line in lines) <= LINE_OCTETS
    assert len(lines) < len(html.encode("utf-8")) // 500  # long lines, not one per tag
    tags = re.findall(r"<[^>]*>", html)  # every tag whole, attributes as written
    assert all("\n" not in tag for tag in tags) and len(tags) > 100
    page = "<p>\n    <b>كلمة</b>   أخرى\n\n<a href='https://x.example/a b'>رابط</a>\n</p>\n"
    assert (
        compact_lines(page)
        == "<p> <b>كلمة</b> أخرى <a href='https://x.example/a b'>رابط</a> </p>\n"
    )
    assert compact_lines("aa bb cc", width=5) == "aa bb\ncc\n"


@pytest.mark.parametrize(
    ("text", "direction"),
    [
        ("(CNN)-- تجددت الاحتجاجات مساء الاثنين.", "rtl"),
        ("Omar Razzaz يكلَّف بتشكيل حكومة أردنية جديدة", "rtl"),
        ("COP31 قمة", "rtl"),  # as many Arabic letters as Latin ones: the page's direction
        ("2026-11-29 — 4.25%", "rtl"),  # no letters at all
        ("Protesters gathered again in Amman, قال الشهود.", "ltr"),
        ("Sahel Book Fair opens with 300 publishers", "ltr"),
    ],
)
def test_direction_is_that_of_the_majority_script(text: str, direction: str) -> None:
    assert text_direction(text) == direction


def test_arabic_text_that_opens_with_latin_is_laid_out_right_to_left(tmp_path: Path) -> None:
    edition = with_story(fixed_edition(), latin_led())
    page = render_digest(edition, subscriber("reader@example.org"), fixed_config(tmp_path)).html
    item = latin_led()
    credit, english = (s.text for s in item.summary.key_sentences)
    dirs: dict[str, list[str | None]] = {}
    parser = _Scoped()
    parser.feed(re.sub(r"<style>.*?</style>", "", page or "", flags=re.S))
    for text, _, direction in parser.texts:
        dirs.setdefault(text, []).append(direction)
    assert dirs[" ".join(credit.split())] == ["rtl"]
    assert dirs[item.story.headline] == ["rtl", "rtl"]  # the index link and the headline
    assert dirs[item.summary.abstract or ""] == ["rtl"]
    assert dirs[english] == ["ltr"]  # a sentence in English stays left to right
    # News text no longer leaves its direction to its first strong character.
    assert not re.search(r'<(li|a href="#[^"]*"|span|p) dir="auto">[^<]*(CNN|Omar|AFP)', page or "")


def test_text_lines_of_arabic_that_open_with_latin_read_right_to_left(tmp_path: Path) -> None:
    # Plain text has no dir: each line takes its first strong character's direction, so
    # these lines start with an invisible RLM; an English sentence, and a line that opens
    # with Arabic, get no mark.
    edition = with_story(fixed_edition(), latin_led())
    text = render_digest(edition, subscriber("reader@example.org"), fixed_config(tmp_path)).text
    item = latin_led()
    credit, english = (s.text for s in item.summary.key_sentences)
    lines = text.splitlines()
    assert f"\u200f- {credit}" in lines
    assert f"- {english}" in lines
    assert f"\u200f■ {item.story.headline}" in lines
    assert any(line.startswith("\u200f") and item.story.headline in line for line in lines[:12])
    # The abstract's line opens with the Arabic label ("[ملخص آلي]") already: no mark.
    assert any(line.endswith(f"] {item.summary.abstract}") and line[0] == "[" for line in lines)
    marked = [line for line in lines if line.startswith(("\u200f", "\u200e"))]
    assert len(marked) == 3  # the three lines above, no other
    assert "\u200e" not in text


@pytest.mark.parametrize(
    ("text", "mark"),
    [
        ("(CNN)-- تجددت الاحتجاجات مساء الاثنين.", "\u200f"),
        ("تجددت الاحتجاجات مساء الاثنين (CNN).", ""),
        ("Protesters gathered again in Amman.", ""),
        ("عمان: Protesters gathered again near the Prime Ministry.", "\u200e"),
        ("2026-11-29", ""),
    ],
)
def test_line_mark_gives_a_line_its_majority_direction(text: str, mark: str) -> None:
    assert line_mark(text) == mark


def test_one_line_per_source_so_the_count_matches_the_list(tmp_path: Path) -> None:
    # Three articles, two sources: the label said "مصدران" over three lines before.
    edition = with_story(fixed_edition(), one_source_twice())
    digest = render_digest(edition, subscriber("reader@example.org"), fixed_config(tmp_path))
    block = digest.text.split("■ محادثات جديدة حول الحدود")[1].split("■")[0]
    sources = [line.strip() for line in block.split("مصدران:\n")[1].strip().splitlines()]
    # Each source by its earliest article: name and time, then its link.
    assert sources == [
        "وكالة النخيل (04:30)",
        "https://news.example.org/talks/0",
        "قناة الواحة (05:00)",
        "https://news.example.org/talks/1",
    ]
    page = digest.html or ""
    story = page.split('id="story-1"')[1].split('class="story"')[0]
    assert re.findall(r'href="(https://news.example.org/talks/\d)"', story) == [
        "https://news.example.org/talks/0",
        "https://news.example.org/talks/1",
    ]
    assert "مصدران" in story


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "http://www.france24.com/ar/20180603-بشار-الأسد",
            "http://www.france24.com/ar/20180603-%D8%A8%D8%B4%D8%A7%D8%B1-"
            "%D8%A7%D9%84%D8%A3%D8%B3%D8%AF",
        ),
        (  # already encoded: left as it is
            "https://www.skynewsarabia.com/world/1053307-%D8%BA%D8%B1%D9%82",
            "https://www.skynewsarabia.com/world/1053307-%D8%BA%D8%B1%D9%82",
        ),
        (  # the URL's own punctuation stays; only the Arabic value is encoded
            "https://x.example/a/b;p?q=مصر&r=1,2#قسم",
            "https://x.example/a/b;p?q=%D9%85%D8%B5%D8%B1&r=1,2#%D9%82%D8%B3%D9%85",
        ),
        ("https://x.example/50% off/a b", "https://x.example/50%25%20off/a%20b"),
        (
            "https://user@موقع.مصر:8080/خبر",
            "https://user@xn--4gbrim.xn--wgbh1c:8080/%D8%AE%D8%A8%D8%B1",
        ),
    ],
)
def test_links_are_ascii_with_non_ascii_characters_percent_encoded(url: str, expected: str) -> None:
    assert ascii_url(url) == expected
    assert safe_url(url) == url  # HTML keeps the link as published (a shorter mail)


def test_arabic_links_are_percent_encoded_in_the_text_part(tmp_path: Path) -> None:
    # France24 publishes its links with a raw Arabic path: in the text part a mail client's
    # link detection stopped at the first Arabic letter, and bidi reordered the line. HTML
    # keeps the link as published: browsers encode it, and encoding tripled its bytes.
    edition = fixed_edition()
    first = edition.stories[0]
    lead = first.story.articles[0]
    raw = "http://www.france24.com/ar/20180603-بشار-الأسد-يستقبل"
    story = replace(first.story, articles=(replace(lead, url=raw), *first.story.articles[1:]))
    edition = replace(edition, stories=(replace(first, story=story), *edition.stories[1:]))
    digest = render_digest(edition, subscriber("reader@example.org"), fixed_config(tmp_path))
    encoded = (
        "http://www.france24.com/ar/20180603-%D8%A8%D8%B4%D8%A7%D8%B1-%D8%A7%D9%84%D8%A3%D8%B3%D8%AF-"
        "%D9%8A%D8%B3%D8%AA%D9%82%D8%A8%D9%84"
    )
    assert f"\n  {encoded}\n" in digest.text and raw not in digest.text
    hrefs = [attrs.get("href") for tag, attrs in _parse(digest.html or "").tags if tag == "a"]
    assert raw in hrefs
    links = [line.strip() for line in digest.text.splitlines() if line.strip().startswith("http")]
    assert links and all(link.isascii() for link in links)


def test_a_limit_that_cuts_still_gives_every_wanted_section_its_best_story() -> None:
    edition = ranked_sections()

    def ids(**fields: object) -> list[str]:
        reader = Subscriber(email="r@example.org", **fields)  # type: ignore[arg-type]
        return [item.story.id for item in stories_for(edition, reader)]

    # Culture's stories rank below all others: a plain cut of the ranking left it out.
    assert ids(max_stories=4) == ["politics-1", "politics-2", "economy-1", "culture-1"]
    assert ids(max_stories=3) == ["politics-1", "economy-1", "culture-1"]
    assert ids(max_stories=2) == ["politics-1", "economy-1"]  # the limit holds
    assert ids(max_stories=6, sections=("politics", "culture")) == [
        "politics-1",
        "politics-2",
        "politics-3",
        "politics-4",
        "culture-1",
        "culture-2",
    ]
    assert ids(max_stories=4, sections=("politics", "culture")) == [
        "politics-1",
        "politics-2",
        "politics-3",
        "culture-1",
    ]
    assert ids(max_stories=2, sections=("politics",)) == ["politics-1", "politics-2"]
    assert len(ids(max_stories=10)) == 8  # no cut: everything, in rank order


def test_sections_keep_their_order_and_their_rank_order_under_a_cut(tmp_path: Path) -> None:
    reader = Subscriber(email="r@example.org", max_stories=5)
    text = render_digest(ranked_sections(), reader, fixed_config(tmp_path)).text
    assert re.findall(r"^== (.+) ==$", text, re.M) == ["سياسة", "اقتصاد", "ثقافة"]
    # (Each headline is mostly Latin letters: its line opens with an LRM, see line_mark.)
    assert re.findall(r"^\u200e?■ خبر (\d) في (\w+)$", text, re.M) == [
        ("1", "politics"),
        ("2", "politics"),
        ("3", "politics"),
        ("1", "economy"),
        ("1", "culture"),
    ]


def test_each_source_keeps_its_name_and_time_in_one_unbroken_unit(tmp_path: Path) -> None:
    page = _render(tmp_path, "reader@example.org").html or ""
    units = re.findall(r'<span class="source" style="([^"]*)">(.*?)</span>', page, re.S)
    links = sum(len(item.story.sources) for item in fixed_edition().stories)
    assert len(units) == links == 18
    for style, inner in units:
        assert "white-space: nowrap" in style and "display: inline-block" in style
        name, time = re.fullmatch(
            r'<(?:a|bdi) class="name"[^>]*>([^<]+)</(?:a|bdi)>\s<bdi dir="ltr">([^<]+)</bdi>', inner
        ).groups()  # type: ignore[union-attr]
        assert name.strip() and re.fullmatch(r"\d\d:\d\d", time)
    # The list itself may break between sources: after each separator.
    assert page.count("</span> ·") == links - len(fixed_edition().stories)


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("reader@example.org", ["26 نوفمبر 01:30", "28 نوفمبر 05:59", "06:00"]),
        ("text-only@example.org", ["٢٦ نوفمبر ٠١:٣٠", "٢٨ نوفمبر ٠٥:٥٩", "٠٦:٠٠"]),
        ("english@example.org", ["26 November 01:30", "28 November 05:59", "06:00"]),
    ],
)
def test_a_source_older_than_a_day_shows_its_day_beside_its_time(
    tmp_path: Path, email: str, expected: list[str]
) -> None:
    # A bare "01:30" under a story that grew over days reads as last night's report.
    edition = with_story(fixed_edition(), grew_over_days())
    digest = render_digest(edition, subscriber(email), fixed_config(tmp_path))
    block = digest.text.split("■ تصدع في جدار سد الوادي")[1].split("■")[0]
    assert re.findall(r"^  \S.*\((.*)\)$", block, re.M) == expected
    if digest.html is None:
        return
    story = digest.html.split('id="story-1"')[1].split('class="story"')[0]
    units = [
        " ".join(unit.split())  # the page's lines may break at any space
        for unit in re.findall(r'<span class="source"[^>]*>(.*?)</span>', story, re.S)
    ]
    day, time = expected[0].rsplit(" ", 1)
    # The day in the interface's direction, the time left to right, in the unbroken unit.
    assert re.search(f'>{day}</bdi> <bdi dir="ltr">{time}</bdi>$', units[0]), units[0]
    assert re.search(f'</(a|bdi)> <bdi dir="ltr">{expected[2]}</bdi>$', units[2]), units[2]


def test_a_reader_in_another_zone_sees_the_sources_times_in_their_own(tmp_path: Path) -> None:
    # Riyadh is UTC+3 and Dubai UTC+4: every time an hour later, the day too past midnight.
    edition = with_story(fixed_edition(), grew_over_days())
    config = fixed_config(tmp_path)
    riyadh = subscriber("reader@example.org")
    dubai = riyadh.model_copy(update={"timezone": "Asia/Dubai"})

    def times(reader: Subscriber) -> list[str]:
        text = render_digest(edition, reader, config).text
        return re.findall(r"^  \S.*\((.*)\)$", text, re.M)

    here, there = times(riyadh), times(dubai)
    assert here[:3] == ["26 نوفمبر 01:30", "28 نوفمبر 05:59", "06:00"]
    assert there[:3] == ["26 نوفمبر 02:30", "28 نوفمبر 06:59", "07:00"]
    assert len(here) == len(there) > 3
    for mine, theirs in zip(here[3:], there[3:], strict=True):
        hour, minute = map(int, mine.split(":"))
        assert theirs == f"{(hour + 1) % 24:02d}:{minute:02d}"


def test_the_gmail_clip_warning_counts_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import briefing.digest.render as render

    monkeypatch.setattr(render, "GMAIL_CLIP_BYTES", 1000)
    with caplog.at_level("WARNING", logger="briefing.digest.render"):
        digest = _render(tmp_path, "reader@example.org")
    size = len((digest.html or "").encode())
    assert size > len(digest.html or "")  # Arabic: more bytes than characters
    assert f"is {size} bytes: Gmail clips it" in caplog.text
