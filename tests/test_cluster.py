"""Story clustering: tiny synthetic cases, the contract, and the quality gate on dev labels."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from briefing import cluster_eval as ev
from briefing.cluster import (
    ClusterInputError,
    assign_stories,
    cluster_jsonl,
    rank_stories,
    story_id_for,
)
from briefing.config import Cluster
from briefing.models import Article, Story
from tests.shared_data import SHARED_DATA, requires_shared_data

T0 = datetime(2018, 4, 2, 8, 0, tzinfo=UTC)


def article(
    id: str, source: str, title: str, text: str, hours: float = 0, weight: float = 1.0
) -> Article:
    return Article(
        id=id,
        feed=source,
        source=source,
        section="news",
        url=f"https://example.org/{id}",
        title=title,
        text=text,
        published=T0 + timedelta(hours=hours),
        weight=weight,
    )


TARIFFS_A = article(
    "a1",
    "العربية",
    "الصين تفرض رسوما جمركية على 128 منتجا أميركيا",
    "أعلنت وزارة المالية الصينية فرض رسوم جمركية إضافية على 128 منتجا أميركيا ردا على رسوم "
    "واشنطن على واردات الصلب والألومنيوم.",
)
TARIFFS_B = article(
    "b1",
    "بي بي سي",
    "بكين ترد بالمثل: رسوم جمركية صينية على 128 منتجا أمريكيا",
    "فرضت الصين رسوما جمركية على 128 منتجا أمريكيا، في رد على الرسوم الأمريكية على الصلب "
    "والألومنيوم، بحسب وزارة المالية الصينية.",
    hours=2,
)
EARTHQUAKE = article(
    "c1",
    "سكاي نيوز",
    "زلزال بقوة 6 درجات يضرب جنوب بيرو",
    "ضرب زلزال بقوة 6 درجات على مقياس ريختر منطقة ساحلية في جنوب بيرو دون أنباء عن ضحايا.",
    hours=1,
)
# Same topic (football, Barcelona), two different events.
MATCH = article(
    "d1",
    "العربية",
    "برشلونة يتعادل مع إشبيلية بهدفين في الدوري الإسباني",
    "أنقذ ميسي برشلونة من الخسارة أمام إشبيلية في الدقائق الأخيرة وانتهت المباراة بالتعادل.",
)
TRANSFER = article(
    "d2",
    "سكاي نيوز",
    "برشلونة يقترب من التعاقد مع مدافع أياكس دي ليخت",
    "تقترب إدارة برشلونة من حسم صفقة المدافع الهولندي دي ليخت من نادي أياكس أمستردام.",
    hours=3,
)


def test_two_sources_one_event_become_one_story() -> None:
    stories = assign_stories([TARIFFS_A, TARIFFS_B, EARTHQUAKE], {}, Cluster())
    assert stories["a1"] == stories["b1"]
    assert stories["c1"] != stories["a1"]


def test_same_topic_two_events_stay_two_stories() -> None:
    stories = assign_stories([MATCH, TRANSFER], {}, Cluster())
    assert stories["d1"] != stories["d2"]


def test_story_growing_across_runs_keeps_its_id() -> None:
    first = assign_stories([TARIFFS_A, EARTHQUAKE], {}, Cluster())
    assert first["a1"] == story_id_for("a1")
    second = assign_stories([TARIFFS_A, EARTHQUAKE, TARIFFS_B], first, Cluster())
    assert second["b1"] == first["a1"]
    assert second["a1"] == first["a1"] and second["c1"] == first["c1"]


def test_two_earlier_stories_that_are_one_merge_under_the_older_id() -> None:
    # Earlier runs put the two tariff reports apart (each came before the other was seen
    # whole); once both are known they are one story, under the id of the one told first.
    previous = {"a1": "story-x", "b1": "story-y", "c1": "story-z"}
    stories = assign_stories([TARIFFS_A, TARIFFS_B, EARTHQUAKE], previous, Cluster())
    assert stories == {"a1": "story-x", "b1": "story-x", "c1": "story-z"}
    # Two earlier stories about different events stay apart.
    previous = {"d1": "story-m", "d2": "story-t"}
    assert assign_stories([MATCH, TRANSFER], previous, Cluster()) == previous


@requires_shared_data
def test_quality_gate_online_twice_a_day_on_dev_labels() -> None:
    """What readers get: the April window replayed in runs 12 hours apart, each run seeing
    the last 48 hours and the stories of the runs before, scored on the dev labels."""
    assert SHARED_DATA is not None
    articles, gold_of = ev.load_dev_labels(SHARED_DATA)
    window = ev.load_window(SHARED_DATA / ev.APRIL_WINDOW)
    last = max(a.published for a in articles)
    stored: dict[str, str] = {}
    now = window[0].published + timedelta(hours=12)
    while True:
        seen = [a for a in window if now - timedelta(hours=48) <= a.published <= now]
        stored.update(
            assign_stories(seen, {a.id: stored[a.id] for a in seen if a.id in stored}, Cluster())
        )
        if now > last:
            break
        now += timedelta(hours=12)
    scores = ev.score([stored[a.id] for a in articles], [gold_of[a.id] for a in articles])
    assert scores.bcubed_f1 >= FLOOR_ONLINE_BCUBED_F1
    assert scores.pairwise_f1 >= FLOOR_ONLINE_PAIRWISE_F1


def test_articles_outside_the_window_do_not_join() -> None:
    late = article("b9", TARIFFS_B.source, TARIFFS_B.title, TARIFFS_B.text, hours=24 * 5)
    stories = assign_stories([TARIFFS_A, late], {}, Cluster(window_hours=48))
    assert stories["a1"] != stories["b9"]


def test_rank_prefers_many_sources_then_freshness() -> None:
    now = T0 + timedelta(hours=6)
    wide = Story("wide", (TARIFFS_A, TARIFFS_B), "news")
    fresh = Story("fresh", (article("e1", "x", "t", "t", hours=5),), "news")
    stale = Story("stale", (article("e2", "x", "t", "t", hours=-30),), "news")
    ranked = rank_stories([stale, fresh, wide], now)
    assert [s.id for s in ranked] == ["wide", "fresh", "stale"]
    assert all(s.score > 0 for s in ranked)


def test_rank_uses_feed_weight_and_section_order() -> None:
    now = T0
    heavy = Story("heavy", (article("f1", "x", "t", "t", weight=3.0),), "news")
    light = Story("light", (article("f2", "x", "t", "t"),), "news")
    assert [s.id for s in rank_stories([light, heavy], now)] == ["heavy", "light"]
    sport = Story("sport", (article("f3", "x", "t", "t"),), "sport")
    news = Story("news", (article("f4", "x", "t", "t"),), "news")
    order = [s.id for s in rank_stories([news, sport], now, section_order=["sport", "news"])]
    assert order == ["sport", "news"]


def test_cluster_jsonl_reads_ant_fields_and_writes_one_line_each(tmp_path: Path) -> None:
    rows = [
        {"docno": "X-1", "title": TARIFFS_A.title, "text": TARIFFS_A.text,
         "pub_time": "Mon, 02 Apr 2018 06:02:11 GMT", "source": "France24"},
        {"id": "X-2", "title": TARIFFS_B.title, "text": TARIFFS_B.text,
         "published": "2018-04-02T09:00:00+03:00", "source": "BBC"},
        {"id": "X-3", "title": EARTHQUAKE.title, "text": EARTHQUAKE.text},
    ]  # fmt: skip
    source = tmp_path / "articles.jsonl"
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n")
    target = tmp_path / "stories.jsonl"
    assert cluster_jsonl(source, target) == 3
    out = [json.loads(line) for line in target.read_text().splitlines()]
    assert [o["id"] for o in out] == ["X-1", "X-2", "X-3"]
    assert out[0]["story"] == out[1]["story"] != out[2]["story"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        ('{"title": "t", "text": ""}', "line 2: missing 'id'"),
        ('{"id": "a", "text": ""}', "line 2: missing or non-text 'title'"),
        ('{"id": "a", "title": "t", "published": "yesterday"}', "line 2: cannot read the date"),
        ("[1, 2]", "line 2: expected a JSON object"),
    ],
)
def test_cluster_jsonl_names_the_bad_line(tmp_path: Path, line: str, message: str) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "ok", "title": "t", "text": "x"}\n' + line + "\n")
    with pytest.raises(ClusterInputError, match=message):
        cluster_jsonl(source, tmp_path / "out.jsonl")


def test_scores_on_a_known_case() -> None:
    # gold: {a,b,c} {d}; predicted: {a,b} {c,d}
    scores = ev.score([1, 1, 2, 2], ["x", "x", "x", "y"])
    assert scores.bcubed_precision == pytest.approx((1 + 1 + 0.5 + 0.5) / 4)
    assert scores.bcubed_recall == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1) / 4)
    assert scores.pairwise_precision == pytest.approx(1 / 2)
    assert scores.pairwise_recall == pytest.approx(1 / 3)


# --- the quality gate on the development labels -------------------------------------------

# Measured as below (cross-validated thresholds, the configured second look), about 0.005
# under what is measured: the second look must keep its recall and cost no precision.
FLOOR_BCUBED_F1 = 0.94  # measured 0.9453
FLOOR_BCUBED_PRECISION = 0.968  # measured 0.9734, as without the second look
FLOOR_PAIRWISE_F1 = 0.857  # measured 0.8624
# Online, runs 12 hours apart: measured 0.9464 and 0.8606 (runs 6 and 24 hours apart: 0.9486
# / 0.8659 and 0.9440 / 0.8351); 0.9454 / 0.7974 while earlier stories could never merge.
FLOOR_ONLINE_BCUBED_F1 = 0.94
FLOOR_ONLINE_PAIRWISE_F1 = 0.85


@pytest.mark.shared_data
@requires_shared_data
def test_quality_gate_on_dev_labels() -> None:
    assert SHARED_DATA is not None
    articles, gold_of = ev.load_dev_labels(SHARED_DATA)
    gold = [gold_of[a.id] for a in articles]
    thresholds = [round(0.2 + 0.025 * i, 4) for i in range(13)]
    ours = ev.cross_validate_method(articles, gold, Cluster(), thresholds).scores
    assert ours.bcubed_f1 >= FLOOR_BCUBED_F1
    assert ours.bcubed_precision >= FLOOR_BCUBED_PRECISION
    assert ours.pairwise_f1 >= FLOOR_PAIRWISE_F1
    vectors = ev.title_lead_tfidf(articles)
    single = ev.cross_validate(
        ev.labelings_over(thresholds, lambda t: ev.single_pass_clusters(articles, t, vectors)),
        gold,
    ).scores
    titles = ev.score(ev.exact_title_clusters(articles), gold)
    for baseline in (single, titles):
        assert ours.bcubed_f1 > baseline.bcubed_f1
        assert ours.pairwise_f1 > baseline.pairwise_f1
