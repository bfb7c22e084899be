from __future__ import annotations

import json
import re
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


def test_a_misspelt_key_is_answered_with_the_key_meant_at_its_own_level(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "briefing.yaml",
        "sections: {world: العالم}\n"
        "smtp:\n  hots: smtp.example.org\n"  # an optional block: smtp.host
        "summarizer:\n  abstractive:\n    enabeld: true\n"  # two levels down
        "max_storys: 5\n",  # top level
    )
    _write(
        tmp_path,
        "feeds.yaml",
        "feeds:\n"
        "  - name: one\n    url: https://example.org/rss\n    section: world\n"
        "  - name: two\n    url: https://example.org/b\n    section: world\n"
        "    fulltext: never\n"  # a list entry: full_text
        "    colour: blue\n",  # nothing close
    )
    _write(
        tmp_path, "subscribers.yaml", "subscribers:\n  - email: a@example.org\n    section: []\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "briefing.yaml")
    reference = "(see the configuration reference in README.md)"
    problems = [p.removeprefix(f"{tmp_path}/") for p in caught.value.problems]
    assert sorted(problems) == sorted(
        [
            f"briefing.yaml:3: smtp.hots: unknown key: did you mean 'host'? {reference}",
            "briefing.yaml:6: summarizer.abstractive.enabeld: unknown key: did you mean "
            f"'enabled'? {reference}",
            f"briefing.yaml:7: max_storys: unknown key: did you mean 'max_stories'? {reference}",
            f"feeds.yaml:8: feeds.1.fulltext: unknown key: did you mean 'full_text'? {reference}",
            "feeds.yaml:9: feeds.1.colour: unknown key (check its spelling; see the "
            "configuration reference in README.md)",
            "subscribers.yaml:3: subscribers.0.section: unknown key: did you mean 'sections'? "
            f"{reference}",
        ]
    )


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
    assert err[0] == f"config error: {tmp_path / 'nope.yaml'}: file not found"
    # then the run's summary line in the log (README, "Logs"), and nothing else
    assert err[1].endswith(
        "briefing: run failed: error='configuration error (1 found)' exit_code=2"
    )
    assert len(err) == 2


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    _write(tmp_path, "briefing.yaml", "sections:\n  world: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "briefing.yaml")
    # line and column of the end of the file, where the parser gave up, and the opening line
    assert "briefing.yaml:3:1: not valid YAML: a [ or { opened at line 2 is not closed" in str(
        caught.value
    )


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


# ---- one valid configuration, then one thing wrong at a time --------------------------

FEEDS = (
    "feeds:\n"
    "  - name: one\n"  # line 2
    "    url: https://one.example/rss\n"
    "    section: world\n"
    "  - name: two\n"  # line 5
    "    url: https://two.example/rss\n"
    "    section: world\n"
)
SUBSCRIBERS = "subscribers:\n  - email: reader@example.org\n"


def _config(folder: Path, main: str = "", feeds: str = FEEDS, subs: str = SUBSCRIBERS) -> Path:
    _write(folder, "feeds.yaml", feeds)
    _write(folder, "subscribers.yaml", subs)
    outbox = folder / "outbox"
    return _write(
        folder, "briefing.yaml", f"sections: {{world: العالم}}\noutbox: {outbox}\n" + main
    )


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [p.removeprefix(str(path.parent) + "/") for p in caught.value.problems]


def test_a_valid_configuration_loads(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path))
    assert [f.name for f in config.feeds] == ["one", "two"]


def test_unquoted_time_of_day_is_rejected_with_the_quoted_form(tmp_path: Path) -> None:
    # YAML 1.1 reads 10:30 as the sexagesimal number 630, which pydantic took as 00:10:30.
    path = _config(tmp_path, "schedule:\n  poll_every_minutes: 30\n  edition_at: 10:30\n")
    assert _problems(path) == [
        'briefing.yaml:5: schedule.edition_at: write the time in quotes, "10:30" '
        "(YAML reads 10:30 unquoted as a number)"
    ]
    path = _config(tmp_path, "schedule: {edition_at: 23:05:30}\n")
    assert '"23:05:30" (YAML reads 23:05:30 unquoted' in _problems(path)[0]
    path = _config(tmp_path, "schedule: {edition_at: 7}\n")
    assert (
        'write the time in quotes as "HH:MM", e.g. "06:30" (got the number 7)'
        in (_problems(path)[0])
    )
    path = _config(tmp_path, "schedule: {edition_at: '6:30'}\n")
    assert 'should be a time of day in quotes, "HH:MM" or "HH:MM:SS"' in _problems(path)[0]
    path = _config(tmp_path, 'schedule: {edition_at: "10:30"}\n')
    assert load_config(path).settings.schedule.edition_at.isoformat() == "10:30:00"


def test_check_config_shows_the_schedule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, 'timezone: Africa/Cairo\nschedule: {edition_at: "10:30"}\n')
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "  schedule: edition daily at 10:30 Africa/Cairo (briefing serve)" in out
    assert "feeds polled every 30 minutes" in out


def test_a_key_written_twice_is_an_error_with_both_lines(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        "email:\n  sender: a@example.org\n  sender_name: A\n  sender: b@example.org\n",
        subs="subscribers:\n  - email: a@example.org\n    name: A\n    email: b@example.org\n",
    )
    assert _problems(path) == [
        'briefing.yaml:6: key "sender" appears twice (first at line 4); keep one of them',
        'subscribers.yaml:4: key "email" appears twice (first at line 2); keep one of them',
    ]


def test_every_problem_of_every_file_in_one_report(tmp_path: Path) -> None:
    """A YAML error in briefing.yaml hides nothing in the other two files; a field error in
    feeds.yaml hides no repeated name or unknown section; each is reported at its line."""
    feeds = (
        "feeds:\n"
        "  - name: one\n"  # 2
        "    url: https://one.example/rss\n"
        "    section: world\n"
        "    weight: heavy\n"  # 5: a field error
        "  - name: one\n"  # 6: the same name again
        "    url: https://two.example/rss\n"
        "    section: wrld\n"  # 8: unknown section
        "  - name: ONE\n"  # 9: the same name, other case
        "    url: https://three.example/rss\n"
        "    section: world\n"
    )
    path = _config(tmp_path, "title: [unclosed\n", feeds=feeds)
    problems = _problems(path)
    assert problems[0].startswith("briefing.yaml:4:1: not valid YAML: a [ or { opened at line 3")
    assert problems[1:] == [
        "feeds.yaml:5: feeds.0.weight: Input should be a valid number, unable to parse string "
        "as a number (got 'heavy')",
        "feeds.yaml:6: feeds.1.name: feed name 'one' appears twice (first at line 2); names are "
        "compared ignoring case; rename or remove one",
        "feeds.yaml:9: feeds.2.name: feed name 'ONE' appears twice (first at line 2 as 'one'); "
        "names are compared ignoring case; rename or remove one",
    ]


def test_unknown_section_is_reported_beside_field_errors(tmp_path: Path) -> None:
    feeds = FEEDS.replace("    section: world\n  - name: two", "    section: wrld\n  - name: two")
    feeds += "    weight: 0\n"  # line 8
    problems = _problems(_config(tmp_path, feeds=feeds))
    assert problems == [
        "feeds.yaml:8: feeds.1.weight: Input should be greater than 0 (got 0)",
        "feeds.yaml:4: feeds.0.section: unknown section 'wrld' (sections defined in "
        "briefing.yaml: world)",
    ]


def test_the_same_subscriber_twice_in_any_case_is_rejected(tmp_path: Path) -> None:
    subs = (
        "subscribers:\n"
        "  - email: Reader@Example.org\n"  # 2
        "  - email: other@example.org\n"
        "  - email: reader@example.org\n"  # 4
    )
    assert _problems(_config(tmp_path, subs=subs)) == [
        "subscribers.yaml:4: subscribers.2.email: address 'reader@example.org' appears twice "
        "(first at line 2 as 'Reader@Example.org'); addresses are compared ignoring case; "
        "remove one, or the reader gets two emails"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "email:\n\tsender: a@example.org\n",
            "briefing.yaml:4:1: not valid YAML: a tab character; YAML does not allow tabs for "
            "indentation, use spaces",
        ),
        (
            "title: Morning: news\n",
            "briefing.yaml:3:15: not valid YAML: a second ': ' on this line; quote a value that "
            "contains ': ' (title: \"Morning: news\"), or this key is indented deeper than the "
            "keys above it (indent with spaces, line up keys of one block)",
        ),
        (
            "email:\n    sender: a@example.org\n  sender_name: A\n",
            "briefing.yaml:5:3: not valid YAML: this line is indented differently from the lines "
            "of its block; indent with spaces, line up keys of one block",
        ),
    ],
)
def test_yaml_errors_have_a_column_and_a_hint(tmp_path: Path, text: str, expected: str) -> None:
    assert _problems(_config(tmp_path, text)) == [expected]


def test_type_errors_in_editor_words(tmp_path: Path) -> None:
    feeds = (
        "feeds:\n"
        "  - name: one\n"
        "    url: https://one.example/rss\n"
        "    section: world\n"
        "    include: كورونا\n"  # 5: a list was meant
        "  - https://two.example/rss\n"  # 6: a bare URL instead of an entry
    )
    subs = "subscribers:\n  - reader@example.org\n"
    # No "feeds: Tuple should have at least 1 item" although no entry is valid.
    assert _problems(_config(tmp_path, "schedule: daily\n", feeds=feeds, subs=subs)) == [
        "briefing.yaml:3: schedule: should be a mapping of settings (key: value lines indented "
        "below it) (got 'daily')",
        "feeds.yaml:5: feeds.0.include: should be a list, e.g. [كورونا] (got 'كورونا')",
        "feeds.yaml:6: feeds.1: should be a feed entry (a mapping with name, url, section) "
        "(got 'https://two.example/rss')",
        "subscribers.yaml:2: subscribers.0: should be a subscriber entry (a mapping with email, "
        "and optionally name, sections) (got 'reader@example.org')",
    ]
    assert _problems(_config(tmp_path, feeds="feeds: []\n")) == [
        "feeds.yaml:1: feeds: needs at least 1 entry"
    ]


def test_files_named_in_the_settings_must_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the outbox is relative to the working folder
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    path = _config(
        tmp_path,
        "ingest: {boilerplate_file: extra-rules.yaml}\n"  # 3
        "email: {templates: my-templates}\n"  # 4
        "smtp: {ca_file: relay-ca.pem}\n",  # 5
    )
    path.write_text(
        path.read_text(encoding="utf-8").replace(str(tmp_path / "outbox"), "a-file/outbox"),
        encoding="utf-8",
    )
    assert main(["check-config", "--config", str(path)]) == 2
    err = [line.replace(str(tmp_path) + "/", "") for line in capsys.readouterr().err.splitlines()]
    assert err == [
        "config error: briefing.yaml:4: email.templates: folder my-templates not found "
        "(relative to briefing.yaml; remove the key to use the stock templates)",
        "config error: briefing.yaml:5: smtp.ca_file: relay-ca.pem not found (a PEM bundle; "
        "relative to briefing.yaml, or an absolute path)",
        "config error: briefing.yaml:3: ingest.boilerplate_file: extra-rules.yaml not found "
        "(relative to briefing.yaml; remove the key to use the packaged rules only)",
        "config error: briefing.yaml:2: outbox: cannot create the folder a-file/outbox: a-file "
        "is a file, not a folder (choose another outbox path)",
    ]


def test_named_files_are_read_relative_to_briefing_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil
    import ssl

    root = Path(__file__).resolve().parents[1]
    (tmp_path / "my-templates").mkdir()
    shutil.copy(root / "templates" / "digest.txt.j2", tmp_path / "my-templates")
    (tmp_path / "my-templates" / "digest.html.j2").write_text("{% if %}\n", encoding="utf-8")
    (tmp_path / "relay-ca.pem").write_text("not a certificate\n", encoding="utf-8")
    (tmp_path / "extra-rules.yaml").write_text(
        "share:\n  - ^شارك\n  - '[unclosed'\n", encoding="utf-8"
    )
    path = _config(
        tmp_path,
        "ingest: {boilerplate_file: extra-rules.yaml}\n"
        "email: {templates: my-templates}\n"
        "smtp: {ca_file: relay-ca.pem}\n",
    )
    monkeypatch.chdir(tmp_path.parent)  # not the configuration's folder
    problems = _problems(path)
    assert problems[0].startswith("my-templates/digest.html.j2:1: template error: ")
    assert problems[1].startswith(
        f"briefing.yaml:5: smtp.ca_file: {tmp_path}/relay-ca.pem is not a readable PEM"
    )
    assert problems[2].startswith(
        "extra-rules.yaml:3: share.1: '[unclosed' is not a valid regular expression"
    )
    (tmp_path / "my-templates" / "digest.html.j2").unlink()
    assert (
        "my-templates has no digest.html.j2 (copy it from the project's templates/)"
        in (_problems(path)[0])
    )
    # A real bundle, relative to briefing.yaml, resolved whatever the working folder.
    bundle = ssl.get_default_verify_paths().cafile
    if bundle is None or not Path(bundle).is_file():
        pytest.skip("this system has no CA bundle file to copy")
    shutil.copy(bundle, tmp_path / "relay-ca.pem")
    shutil.copy(root / "templates" / "digest.html.j2", tmp_path / "my-templates")
    (tmp_path / "extra-rules.yaml").write_text("share:\n  - ^شارك\n", encoding="utf-8")
    config = load_config(path)
    assert config.settings.smtp.ca_file == str(tmp_path / "relay-ca.pem")


@pytest.mark.parametrize("address", ["victim@example.org\n", "victim@example.org\nBcc: x@y.org"])
def test_an_address_with_a_line_end_is_not_an_email(demo_dir: Path, address: str) -> None:
    path = demo_dir / "subscribers.yaml"
    path.write_text(f"subscribers:\n  - email: {json.dumps(address)}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(demo_dir / "briefing.yaml")
    assert any("is not an email address" in p for p in error.value.problems)


def test_every_setting_is_in_the_readmes_configuration_reference() -> None:
    # Editors tune the three files from the README: a key added to the code but not to the
    # reference is a key nobody finds.
    from pydantic import BaseModel

    from briefing.config import Feed, Settings, Subscriber

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    reference = readme.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]

    def keys(model: type[BaseModel], prefix: str = "") -> list[str]:
        found = []
        for name, field in model.model_fields.items():
            inner = field.annotation
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                found += keys(inner, f"{prefix}{name}.")
            else:
                found.append(f"{prefix}{name}")
        return found

    assert len(keys(Settings)) > 50
    missing = [k for k in keys(Settings) if f"`{k}`" not in reference]
    for model in (Feed, Subscriber):  # their files are shown as YAML examples, key by key
        missing += [k for k in keys(model) if not re.search(rf"^ +(- )?{k}:", reference, re.M)]
    assert missing == []


def test_every_command_and_its_options_are_in_the_readmes_command_table() -> None:
    # `briefing --help` lists the commands; the README's table is where a stranger looks.
    import argparse

    from briefing.cli import build_parser

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    table = readme.split("## Commands", 1)[1].split("\n## ", 1)[0]
    [commands] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(commands.choices) >= 14
    missing = [name for name in commands.choices if f"`briefing {name}" not in table]
    for name, sub in commands.choices.items():
        options = [o for a in sub._actions for o in a.option_strings if o.startswith("--")]
        missing += [
            f"{name} {o}" for o in options if o not in ("--help", "--config") and o not in table
        ]
    assert missing == []
