from __future__ import annotations

from pathlib import Path

import pytest

from briefing.cli import main
from briefing.config import load_config
from briefing.errors import ConfigError


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def bad_config(tmp_path: Path) -> Path:
    main = _write(
        tmp_path,
        "briefing.yaml",
        "timezone: Asia/Riyadh\n"
        "sections:\n"
        "  world: العالم\n"
        "max_stories: many\n"  # wrong type, line 4
        "colour: blue\n",  # unknown key, line 5
    )
    _write(
        tmp_path,
        "feeds.yaml",
        "feeds:\n"
        "  - name: one\n"
        "    url: https://example.org/rss\n"
        "    section: world\n"
        "  - name: two\n"
        "    url: not a url\n"  # bad URL, line 6
        "    section: world\n",
    )
    _write(
        tmp_path,
        "subscribers.yaml",
        "subscribers:\n  - email: reader@example.org\n  - email: nobody-at-example\n",  # line 3
    )
    return main


def test_settings_errors_name_file_line_and_field(bad_config: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(bad_config)
    problems = caught.value.problems
    assert any("briefing.yaml:4: max_stories:" in p and "integer" in p for p in problems)
    assert any("briefing.yaml:5: colour: unknown key" in p for p in problems)


def test_check_config_reports_all_four_kinds_with_exit_2(
    bad_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", "--config", str(bad_config)]) == 2
    err = capsys.readouterr().err
    assert "briefing.yaml:4: max_stories: Input should be a valid integer" in err
    assert "briefing.yaml:5: colour: unknown key" in err
    assert "feeds.yaml:6: feeds.1.url: 'not a url' is not a feed URL" in err
    assert "subscribers.yaml:3: subscribers.1.email: 'nobody-at-example' is not an email" in err


def test_all_four_problems_in_one_report(tmp_path: Path) -> None:
    _write(tmp_path, "briefing.yaml", "sections: {world: العالم}\n")
    _write(
        tmp_path,
        "feeds.yaml",
        "feeds:\n"
        "  - name: one\n"
        "    url: ftp://example.org/rss\n"
        "    section: world\n"
        "    weight: heavy\n"
        "    colour: red\n",
    )
    _write(tmp_path, "subscribers.yaml", "subscribers:\n  - email: x@\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "briefing.yaml")
    report = "\n".join(caught.value.problems)
    assert "feeds.yaml:3: feeds.0.url:" in report
    assert "feeds.yaml:5: feeds.0.weight:" in report
    assert "feeds.yaml:6: feeds.0.colour: unknown key" in report
    assert "subscribers.yaml:2: subscribers.0.email:" in report


def test_unknown_section_lists_the_known_ones(tmp_path: Path) -> None:
    _write(tmp_path, "briefing.yaml", "sections: {world: العالم, sport: رياضة}\n")
    _write(
        tmp_path,
        "feeds.yaml",
        "feeds:\n  - {name: a, url: 'https://a.example/rss', section: wrld}\n",
    )
    _write(tmp_path, "subscribers.yaml", "subscribers: []\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "briefing.yaml")
    assert "unknown section 'wrld' (sections defined in briefing.yaml: world, sport)" in str(
        caught.value
    )


def test_missing_config_file_is_one_clear_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--config", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"config error: {tmp_path / 'nope.yaml'}: file not found"]


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    _write(tmp_path, "briefing.yaml", "sections:\n  world: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "briefing.yaml")
    assert "briefing.yaml:3: not valid YAML" in str(caught.value)


def test_file_urls_need_an_explicit_switch(tmp_path: Path) -> None:
    _write(tmp_path, "briefing.yaml", "sections: {world: العالم}\n")
    _write(tmp_path, "feeds.yaml", "feeds:\n  - {name: a, url: 'file:a.xml', section: world}\n")
    _write(tmp_path, "subscribers.yaml", "subscribers: []\n")
    with pytest.raises(ConfigError, match="allow_file_urls"):
        load_config(tmp_path / "briefing.yaml")


def test_demo_config_is_valid() -> None:
    config = load_config(Path(__file__).parents[1] / "config" / "demo" / "briefing.yaml")
    assert len(config.feeds) >= 3
    assert config.settings.smtp.host is None
