"""Typed configuration, validated once at start-up.

Three files an editor edits: `briefing.yaml` (settings), `feeds.yaml` and `subscribers.yaml`
(paths relative to briefing.yaml). Every problem names its file, line and field, and all of
them are reported at once. Secrets (the SMTP password) come only from environment variables.
"""

from __future__ import annotations

import difflib
import os
import re
import ssl
from collections.abc import Callable
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from briefing.errors import ConfigError
from briefing.yamlsource import YamlSource, read_yaml

# Matched whole (fullmatch): "$" would also accept a line end after the address.
_EMAIL = re.compile(r"[^@\s<>()\[\],;:\"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Asia/Riyadh)") from None
    return value


def _check_email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"{value!r} is not an email address (expected name@example.com)")
    return value


Email = Annotated[str, Field(min_length=3)]
SectionId = Annotated[str, Field(pattern=_NAME.pattern)]


class Feed(Strict):
    name: str = Field(min_length=1)
    # The publisher readers see, and what "N sources" counts: the feeds of one site (its
    # world and economy feeds) share it. Default: the feed's name.
    source: str | None = Field(default=None, min_length=1)
    url: str
    section: SectionId
    weight: float = Field(default=1.0, gt=0, le=10)
    language: str = Field(default="ar", pattern=r"^[a-z]{2}$")
    enabled: bool = True
    # Fetch the article page when the feed gives a teaser: always, never, or "auto" when the
    # feed's text is shorter than ingest.teaser_words.
    full_text: Literal["always", "never", "auto"] = "auto"
    # Whether its article pages are fetched only where their site's robots.txt allows;
    # None: ingest.obey_robots_txt. false for a publisher that gave permission.
    obey_robots_txt: bool | None = None
    # Keywords or /regular expressions/, matched on normalized text (title, description, body).
    # An item is kept when it matches any include (or there is none) and no exclude.
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    # Extra boilerplate line patterns for this feed only (same form as boilerplate.yaml).
    boilerplate: tuple[str, ...] = ()
    # For a feed that writes its local time but labels it GMT (or gives no offset): its dates
    # are read as local times in this zone, whatever offset they claim.
    timezone: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme in ("http", "https") and parts.netloc:
            return value
        if parts.scheme == "file" and (parts.path or parts.netloc):
            return value
        raise ValueError(
            f"{value!r} is not a feed URL (expected http://, https:// or, for local files, file:)"
        )

    @field_validator("include", "exclude")
    @classmethod
    def _filters(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not value.strip():
                raise ValueError("an empty filter would match everything")
            if _is_regex(value):
                _compile(value[1:-1])
        return values

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return value if value is None else _check_zone(value)

    @field_validator("boilerplate")
    @classmethod
    def _patterns(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            _compile(value)
        return values


def _is_regex(value: str) -> bool:
    """Filters written as /.../ are regular expressions; anything else is a keyword."""
    return len(value) > 2 and value.startswith("/") and value.endswith("/")


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None


class FeedsFile(Strict):
    # Unique names are checked on the file as written (`_check_unique`), so that each
    # repeated entry is reported at its own line.
    feeds: tuple[Feed, ...] = Field(min_length=1)


class Subscriber(Strict):
    email: Email
    name: str = ""
    sections: tuple[SectionId, ...] = ()  # empty: every section
    max_stories: int = Field(default=10, ge=1, le=100)
    format: Literal["html", "text"] = "html"
    language: Literal["ar", "en"] = "ar"  # language of the interface strings
    eastern_digits: bool = False  # write numbers in the interface as ٠١٢٣
    # The reader's own zone for the sources' times (a reader in Casablanca among Gulf ones);
    # default: briefing.yaml's timezone.
    timezone: str | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return _check_email(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return value if value is None else _check_zone(value)


class SubscribersFile(Strict):
    subscribers: tuple[Subscriber, ...] = ()


class Schedule(Strict):
    """`briefing serve`: poll feeds through the day, build the edition at a local time."""

    poll_every_minutes: float = Field(default=30, gt=0, le=24 * 60)
    edition_at: time = time(6, 30)  # in `timezone`; "06:30" or "06:30:00"
    # An edition that could not start on time (machine asleep, service restarted) still runs
    # if it is at most this late; later than that it waits for the next morning.
    misfire_grace_minutes: int = Field(default=60, ge=1)

    @field_validator("edition_at", mode="before")
    @classmethod
    def _quoted_time(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(unquoted_time(value))
        return value


def unquoted_time(value: float) -> str:
    """What to tell an editor who wrote a time of day without quotes: YAML 1.1 reads 10:30
    as the number 630 (sexagesimal). `schedule.edition_at` is the only time-of-day field."""
    if isinstance(value, int) and value >= 60:
        parts: list[int] = []
        rest = value
        while rest:
            rest, digit = divmod(rest, 60)
            parts.insert(0, digit)
        if len(parts) in (2, 3) and parts[0] < 24:
            written = ":".join([str(parts[0])] + [f"{p:02d}" for p in parts[1:]])
            quoted = ":".join(f"{p:02d}" for p in parts)
            return (
                f'write the time in quotes, "{quoted}" (YAML reads {written} unquoted as a number)'
            )
    return f'write the time in quotes as "HH:MM", e.g. "06:30" (got the number {value})'


class Ingest(Strict):
    timeout_seconds: float = Field(default=20, gt=0, le=300)  # read timeout, per chunk
    connect_timeout_seconds: float = Field(default=10, gt=0, le=120)
    deadline_seconds: float = Field(default=60, gt=0, le=900)  # whole request, slow trickles too
    concurrency: int = Field(default=16, ge=1, le=256)  # requests in flight, all hosts
    per_host: int = Field(default=4, ge=1, le=64)  # requests in flight to one host
    max_bytes: int = Field(default=10_000_000, ge=10_000)  # per response, after decompression
    user_agent: str = "briefing/0.1 (+https://github.com/briefing-news/briefing)"
    allow_file_urls: bool = False  # feeds on local disk (the demo, tests)
    # Article pages at loopback/private/link-local addresses (an internal news site); off: SSRF.
    allow_private_pages: bool = False
    # Fetch an article page only where its site's robots.txt allows it (off: with the site's
    # permission only).
    obey_robots_txt: bool = True
    teaser_words: int = Field(default=60, ge=0)  # "auto" full text below this many words
    max_retry_after_hours: float = Field(default=24, gt=0)  # a longer Retry-After is capped
    near_duplicate_threshold: float = Field(default=0.8, gt=0, le=1)  # MinHash Jaccard, per source
    near_duplicate_days: int = Field(default=7, ge=1)  # how far back a source's items are compared
    boilerplate_file: str | None = (
        None  # extra rules (boilerplate.yaml layout), beside briefing.yaml
    )
    # Processes that parse feeds and clean items; None: one per CPU; 0: threads of the run.
    parse_workers: int | None = Field(default=None, ge=0, le=64)


class Cluster(Strict):
    """Story clustering (see docs/clustering.md); defaults chosen by cross-validation."""

    window_hours: int = Field(default=48, ge=1, le=24 * 14)  # farther apart: never compared
    threshold: float = Field(default=0.3, gt=0, lt=1)  # centroid cosine a merge must reach
    # Two articles still alone, each the other's best match, merge at this lower cosine
    # (at or above `threshold`: no second look) when their whole bodies' cosine reaches
    # `pair_body`.
    pair_threshold: float = Field(default=0.175, gt=0, lt=1)
    pair_body: float = Field(default=0.25, ge=0, lt=1)
    lead_words: int = Field(default=60, ge=5, le=1000)  # the lead: the body's first words
    title_weight: int = Field(default=2, ge=1, le=10)  # title tokens count this many times
    idf_power: float = Field(default=1.5, ge=0.5, le=3)  # >1: rare names outweigh topic words
    min_edge: float = Field(default=0.1, ge=0, lt=1)  # weaker pairs never link two groups
    neighbours: int = Field(default=20, ge=1, le=1000)  # candidate pairs kept per article


class Extractive(Strict):
    sentences: int = Field(default=3, ge=1, le=20)
    words: int | None = Field(default=None, ge=5)


class Abstractive(Strict):
    """The seq2seq summarizer (briefing.summarize.abstractive) and its guard.

    CPU defaults come from benchmarks/abstractive.py (see docs/abstractive.md).
    """

    enabled: bool = False
    model: str = "csebuetnlp/mT5_multilingual_XLSum"  # a hub id (cached) or a local folder
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(default=None, ge=1)  # CPU threads; None: torch's default
    quantize: bool = True  # int8 dynamic quantization on CPU
    batch_size: int = Field(default=8, ge=1, le=128)
    num_beams: int = Field(default=1, ge=1, le=16)
    no_repeat_ngram_size: int = Field(default=3, ge=0)
    max_input_tokens: int = Field(default=512, ge=16)
    max_new_tokens: int = Field(default=84, ge=8)
    min_new_tokens: int = Field(default=12, ge=0)
    # The guard: a summary outside these bounds is replaced by the extractive one.
    min_words: int = Field(default=5, ge=1)
    max_words: int = Field(default=90, ge=5)
    min_arabic_share: float = Field(default=0.8, ge=0, le=1)  # of letters in Arabic script


class Summarizer(Strict):
    extractive: Extractive = Extractive()
    abstractive: Abstractive = Abstractive()


class Smtp(Strict):
    host: str | None = None  # no host: digests go to the outbox folder
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"  # tls: implicit TLS (port 465)
    ca_file: str | None = None  # a private CA bundle for the relay's certificate
    username_env: str = "BRIEFING_SMTP_USERNAME"  # login only when both variables are set
    password_env: str = "BRIEFING_SMTP_PASSWORD"
    timeout_seconds: float = Field(default=30, gt=0)
    concurrency: int = Field(default=4, ge=1, le=64)  # connections open at once
    messages_per_connection: int = Field(default=100, ge=1)  # then reconnect (relay limits)
    retries: int = Field(default=3, ge=0, le=10)  # per message, on 4xx and dropped connections
    backoff_seconds: float = Field(default=2.0, ge=0, le=600)  # doubles at each retry
    stale_after_minutes: int = Field(default=30, ge=1)  # a reservation left by a dead run


class Mailbox(Strict):
    """The IMAP mailbox bounces, spam complaints and unsubscribe mails arrive in
    (docs/email.md)."""

    host: str | None = None  # no host: nothing is read
    port: int = Field(default=993, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = "tls"  # tls: implicit TLS (port 993)
    ca_file: str | None = None  # a private CA bundle for the server's certificate
    username_env: str = "BRIEFING_IMAP_USERNAME"
    password_env: str = "BRIEFING_IMAP_PASSWORD"
    folder: str = "INBOX"
    # Mails briefing acted on are moved here (created when missing); anything else stays
    # in `folder` for a person to read.
    processed_folder: str = "briefing-processed"
    timeout_seconds: float = Field(default=30, gt=0)


class EmailSettings(Strict):
    sender: Email = "briefing@localhost.localdomain"
    sender_name: str = "موجز الصباح"
    # The envelope sender (MAIL FROM, the Return-Path readers' providers bounce to); None:
    # the sender. A separate address keeps bounces out of the mailbox readers reply to.
    bounce_address: Email | None = None
    # The List-Id header (RFC 2919) mail clients file and filter the digests by; None: the
    # sender's address as a dot-atom (briefing@example.org -> briefing.example.org).
    list_id: str | None = None
    # Both may contain {email}: replaced by the subscriber's address (URL-encoded), so that
    # one-click unsubscribe (RFC 8058) knows who clicked; and {token}: a signature of that
    # address, so that the unsubscribe page can tell a real click from a forged request.
    unsubscribe_mailto: str | None = None  # mailto:unsubscribe@example.org
    unsubscribe_url: str | None = None  # https://example.org/unsubscribe?email={email}
    # The environment variable holding the secret {token} is signed with (never in YAML).
    unsubscribe_secret_env: str = "BRIEFING_UNSUBSCRIBE_SECRET"
    templates: str | None = None  # a folder of digest templates, relative to briefing.yaml

    @field_validator("sender", "bounce_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return value if value is None else _check_email(value)

    @field_validator("list_id")
    @classmethod
    def _list_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", value):
            raise ValueError(
                f"{value!r} is not a list id: letters, digits and hyphens in dot-separated "
                "parts, at least two (briefing.example.org)"
            )
        return value

    @field_validator("unsubscribe_mailto")
    @classmethod
    def _mailto(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("mailto:"):
            raise ValueError(f"{value!r} is not a mailto: address (mailto:unsubscribe@...)")
        return value

    @field_validator("unsubscribe_url")
    @classmethod
    def _one_click(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("https://") and urlsplit(value).netloc):
            raise ValueError(f"{value!r} is not an https:// URL (one-click unsubscribe needs one)")
        return value


class Settings(Strict):
    """The contents of briefing.yaml."""

    title: str = "موجز الصباح"
    timezone: str = "Asia/Riyadh"
    database: str = "var/briefing.db"  # a file path or any SQLAlchemy URL
    outbox: str = "var/outbox"
    feeds_file: str = "feeds.yaml"
    subscribers_file: str = "subscribers.yaml"
    sections: dict[SectionId, str] = Field(default_factory=lambda: {"news": "أخبار"})
    max_stories: int = Field(default=20, ge=1, le=200)  # per section, in one edition
    edition_window_hours: int = Field(default=24, ge=1)  # how far back an edition looks
    retention_days: int = Field(default=30, ge=1)
    schedule: Schedule = Schedule()
    ingest: Ingest = Ingest()
    cluster: Cluster = Cluster()
    summarizer: Summarizer = Summarizer()
    smtp: Smtp = Smtp()
    mailbox: Mailbox = Mailbox()
    email: EmailSettings = EmailSettings()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value)


class Config(BaseModel):
    """Everything a run needs, validated together. Paths are already resolved."""

    model_config = ConfigDict(frozen=True)

    path: Path
    settings: Settings
    feeds: tuple[Feed, ...]
    subscribers: tuple[Subscriber, ...]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def database_url(self) -> str:
        """An SQLAlchemy URL; a bare path means an SQLite file (relative to the working dir)."""
        db = self.settings.database
        return db if "://" in db else f"sqlite:///{Path(db).expanduser()}"

    @property
    def outbox_dir(self) -> Path:
        return Path(self.settings.outbox).expanduser()

    def section_title(self, section: str) -> str:
        return self.settings.sections.get(section, section)


def load_config(path: str | Path) -> Config:
    """Read and validate the three files; raise ConfigError listing every problem found.

    Each file is read and checked even when another one is broken, so that one run of
    check-config reports everything, each problem at its own line.
    """
    path = Path(path)
    problems: list[str] = []
    main = read_yaml(path)
    if main.data is None and not path.exists():
        raise ConfigError(list(main.problems))  # a wrong --config: the rest is noise
    problems += main.problems
    settings = _validate(Settings, main, problems)
    feeds_src = read_yaml(path.parent / _file_setting(main, settings, "feeds_file"))
    subs_src = read_yaml(path.parent / _file_setting(main, settings, "subscribers_file"))
    problems += feeds_src.problems
    feeds = _validate(FeedsFile, feeds_src, problems)
    problems += subs_src.problems
    subs = _validate(SubscribersFile, subs_src, problems)
    # Checks across entries and files work on what is written, so that a field error in
    # one entry does not hide a repeated name or an unknown section in another.
    feed_entries = _entries(feeds_src, "feeds")
    sub_entries = _entries(subs_src, "subscribers")
    _check_unique(feeds_src, feed_entries, "name", "feed name", problems)
    _check_unique(subs_src, sub_entries, "email", "address", problems)
    sections = _known_sections(main, settings)
    if sections is not None:
        wanted: list[tuple[tuple[Any, ...], Any]]
        wanted = [(("feeds", i, "section"), e.get("section")) for i, e in feed_entries]
        _check_sections(sections, feeds_src, wanted, problems)
        wanted = [
            (("subscribers", i, "sections", j), section)
            for i, e in sub_entries
            if isinstance(e.get("sections"), list)
            for j, section in enumerate(e["sections"])
        ]
        _check_sections(sections, subs_src, wanted, problems)
    if _setting(main, settings, ("ingest", "allow_file_urls")) is False:
        _check_file_urls(feeds_src, feed_entries, problems)
    if settings is not None:
        settings = _check_files(settings, main, problems)
    if problems or settings is None or feeds is None or subs is None:
        raise ConfigError(problems)
    return Config(path=path, settings=settings, feeds=feeds.feeds, subscribers=subs.subscribers)


def _file_setting(source: YamlSource, settings: Settings | None, key: str) -> str:
    """The feeds/subscribers file name, from valid settings or, failing that, as written."""
    if settings is not None:
        return str(getattr(settings, key))
    written = source.data.get(key) if isinstance(source.data, dict) else None
    return written if isinstance(written, str) else str(Settings.model_fields[key].default)


def _setting(source: YamlSource, settings: Settings | None, loc: tuple[str, ...]) -> Any:
    """A setting from valid settings, else as written (None when unknown or not written
    where a default applies, the default)."""
    if settings is not None:
        value: Any = settings
        for key in loc:
            value = getattr(value, key)
        return value
    if source.data is None:
        return None  # broken YAML: unknown
    data: Any = source.data
    model: Any = Settings
    for key in loc:
        field = model.model_fields[key]
        if not isinstance(data, dict):
            return None
        if key not in data:
            return field.get_default(call_default_factory=True)
        data, model = data[key], field.annotation
    return data


def _known_sections(source: YamlSource, settings: Settings | None) -> list[str] | None:
    sections = _setting(source, settings, ("sections",))
    if not isinstance(sections, dict):
        return None
    return [str(k) for k in sections]


def _entries(source: YamlSource, key: str) -> list[tuple[int, dict[str, Any]]]:
    """The file's list entries as written (those that are mappings), with their index."""
    items = source.data.get(key) if isinstance(source.data, dict) else None
    if not isinstance(items, list):
        return []
    return [(i, item) for i, item in enumerate(items) if isinstance(item, dict)]


def _validate(model: type[Strict], source: YamlSource, problems: list[str]) -> Any:
    if source.problems and source.data is None:
        return None  # missing or broken: already reported
    data = source.data if source.data is not None else {}
    if not isinstance(data, dict):
        problems.append(f"{source.path}:1: expected a mapping of settings at the top level")
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            described = _describe(source, error, model)
            if described:
                problems.append(described)
        return None


def _keys_at(model: type[Strict], path: tuple[Any, ...]) -> list[str]:
    """The keys allowed in the mapping at `path` of a `model` file (feeds.0 -> a Feed's)."""
    annotation: Any = model
    for part in path:
        inner = _inner_model(annotation)
        if inner is None:
            return []
        if isinstance(part, int):  # an entry of a list: the list's own model
            annotation = inner
            continue
        field = inner.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
    inner = _inner_model(annotation)
    return list(inner.model_fields) if inner else []


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """The settings model an annotation holds: itself, a list's entries, an optional's value."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next(filter(None, map(_inner_model, get_args(annotation))), None)


_ENTRY_WORDS = {
    "Feed": "a feed entry (a mapping with name, url, section)",
    "Subscriber": "a subscriber entry (a mapping with email, and optionally name, sections)",
}


def _describe(source: YamlSource, error: Any, model: type[Strict]) -> str | None:
    """`file:line: field: what is wrong`, in an editor's words; None for an error that only
    echoes others (a list of invalid entries counted as empty)."""
    loc = tuple(error["loc"])
    field = ".".join(str(p) for p in loc) or "(top level)"
    line = source.line_of(loc)
    kind = error["type"]
    given = error.get("input")
    got = "" if isinstance(given, dict | list) else f" (got {given!r})"
    if kind == "extra_forbidden":
        known = _keys_at(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        reference = "see the configuration reference in README.md"
        message = (
            f"unknown key: did you mean {close[0]!r}? ({reference})"
            if close
            else f"unknown key (check its spelling; {reference})"
        )
    elif kind == "missing":
        message = "required, but missing"
    elif kind == "too_short":
        if isinstance(given, list) and given:
            return None  # the entries are there; their own errors say what is wrong
        message = f"needs at least {error['ctx']['min_length']} entry"
    elif kind in ("tuple_type", "list_type"):
        example = f"[{given}]" if isinstance(given, str) else "[first, second]"
        message = f"should be a list, e.g. {example}{got}"
    elif kind == "model_type":
        entry = _ENTRY_WORDS.get(error.get("ctx", {}).get("class_name", ""))
        message = (
            f"should be {entry or 'a mapping of settings (key: value lines indented below it)'}"
        )
        message += got
    elif kind == "dict_type":
        message = f"should be a mapping (key: value lines indented below it){got}"
    elif kind == "time_parsing" or (kind == "time_type" and loc[-1:] == ("edition_at",)):
        message = f'should be a time of day in quotes, "HH:MM" or "HH:MM:SS", e.g. "06:30"{got}'
    elif kind == "bool_parsing" or kind == "bool_type":
        message = f"should be true or false{got}"
    elif kind == "string_type":
        message = f"should be text (put it in quotes){got}"
    else:
        message = error["msg"].removeprefix("Value error, ")
        if kind not in ("value_error",):
            message += got
    return f"{source.path}:{line}: {field}: {message}"


def _check_unique(
    source: YamlSource,
    entries: list[tuple[int, dict[str, Any]]],
    key: str,
    what: str,
    problems: list[str],
) -> None:
    """Each repeated `key` (compared ignoring case) is reported with the line of the first."""
    top = "feeds" if what == "feed name" else "subscribers"
    first: dict[str, tuple[int, str]] = {}
    for i, entry in entries:
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            continue
        loc = (top, i, key)
        line = source.line_of(loc)
        folded = value.strip().casefold()
        if folded not in first:
            first[folded] = (line, value)
            continue
        first_line, first_value = first[folded]
        same = "" if first_value == value else f" as {first_value!r}"
        if what == "address":
            fix = "addresses are compared ignoring case; remove one, or the reader gets two emails"
        else:
            fix = "names are compared ignoring case; rename or remove one"
        problems.append(
            f"{source.path}:{line}: {top}.{i}.{key}: {what} {value!r} appears twice "
            f"(first at line {first_line}{same}); {fix}"
        )


def _check_sections(
    known: list[str],
    source: YamlSource,
    pairs: list[tuple[tuple[Any, ...], Any]],
    problems: list[str],
) -> None:
    listed = ", ".join(known)
    for loc, section in pairs:
        # A malformed id already has its own error from validation.
        if isinstance(section, str) and _NAME.match(section) and section not in known:
            field = ".".join(str(p) for p in loc)
            problems.append(
                f"{source.path}:{source.line_of(loc)}: {field}: unknown section {section!r} "
                f"(sections defined in briefing.yaml: {listed})"
            )


def _check_file_urls(
    source: YamlSource, entries: list[tuple[int, dict[str, Any]]], problems: list[str]
) -> None:
    for i, entry in entries:
        url = entry.get("url")
        if isinstance(url, str) and url.startswith("file:"):
            loc = ("feeds", i, "url")
            problems.append(
                f"{source.path}:{source.line_of(loc)}: feeds.{i}.url: file: URLs are off "
                "(set ingest.allow_file_urls: true in briefing.yaml to read feeds from disk)"
            )


# ---- files the settings name -----------------------------------------------------------

TEMPLATE_FILES = ("digest.html.j2", "digest.txt.j2")


def _check_files(settings: Settings, source: YamlSource, problems: list[str]) -> Settings:
    """The templates folder, CA bundle, boilerplate file and outbox folder exist and can be
    used, so that a run does not fail on them after fetching every feed. Returns the
    settings with `smtp.ca_file` and `mailbox.ca_file` resolved against briefing.yaml's folder."""
    base = source.path.parent

    def problem(loc: tuple[str, ...], message: str) -> None:
        problems.append(f"{source.path}:{source.line_of(loc)}: {'.'.join(loc)}: {message}")

    templates = settings.email.templates
    if templates:
        folder = (base / templates).expanduser()
        loc = ("email", "templates")
        if not folder.exists():
            problem(
                loc,
                f"folder {folder} not found (relative to briefing.yaml; remove the key "
                "to use the stock templates)",
            )
        elif not folder.is_dir():
            problem(loc, f"{folder} is not a folder")
        else:
            for name in TEMPLATE_FILES:
                if not (folder / name).is_file():
                    problem(loc, f"{folder} has no {name} (copy it from the project's templates/)")
                else:
                    _check_template(folder / name, problems)

    for section in ("smtp", "mailbox"):
        settings = _resolve_ca_file(settings, section, base, problem)

    boilerplate = settings.ingest.boilerplate_file
    if boilerplate:
        resolved = (base / boilerplate).expanduser()
        if not resolved.is_file():
            problem(
                ("ingest", "boilerplate_file"),
                f"{resolved} not found (relative to "
                "briefing.yaml; remove the key to use the packaged rules only)",
            )
        else:
            _check_boilerplate(read_yaml(resolved), problems)

    email = settings.email
    for key in ("unsubscribe_url", "unsubscribe_mailto"):
        link = getattr(email, key)
        if link and "{token}" in link and not os.environ.get(email.unsubscribe_secret_env):
            problem(
                ("email", key),
                f"uses {{token}}, but ${email.unsubscribe_secret_env} is not set: set it to "
                "the long random secret your unsubscribe page checks tokens with",
            )

    box = settings.mailbox
    missing = [name for name in (box.username_env, box.password_env) if not os.environ.get(name)]
    if box.host and missing:
        problem(
            ("mailbox", "host"),
            f"reading the mailbox needs its login: set ${' and $'.join(missing)} (never in YAML)",
        )

    if not settings.smtp.host:
        _check_outbox(Path(settings.outbox).expanduser(), problem)
    return settings


def _resolve_ca_file(
    settings: Settings, section: str, base: Path, problem: Callable[[tuple[str, ...], str], None]
) -> Settings:
    """`section`'s ca_file (smtp or mailbox) checked and made absolute against base."""
    block = getattr(settings, section)
    if not block.ca_file:
        return settings
    resolved = (base / block.ca_file).expanduser()
    loc = (section, "ca_file")
    if not resolved.is_file():
        problem(
            loc,
            f"{resolved} not found (a PEM bundle; relative to briefing.yaml, or an absolute path)",
        )
    else:
        try:
            ssl.create_default_context(cafile=str(resolved))
        except (ssl.SSLError, OSError) as exc:
            problem(loc, f"{resolved} is not a readable PEM certificate bundle ({exc})")
    return settings.model_copy(
        update={section: block.model_copy(update={"ca_file": str(resolved)})}
    )


def _check_template(path: Path, problems: list[str]) -> None:
    from jinja2 import Environment, TemplateSyntaxError

    try:
        Environment().parse(path.read_text(encoding="utf-8"))
    except TemplateSyntaxError as exc:
        problems.append(f"{path}:{exc.lineno}: template error: {exc.message}")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot be read: {exc}")


def _check_boilerplate(source: YamlSource, problems: list[str]) -> None:
    """The layout of briefing/arabic/data/boilerplate.yaml: lists of patterns (or of
    {pattern, max_words}) under any key, and per-feed lists under `feeds`."""
    problems += source.problems
    if source.data is None:
        return
    if not isinstance(source.data, dict):
        problems.append(f"{source.path}:1: expected a mapping of rule lists at the top level")
        return
    lists: list[tuple[tuple[str | int, ...], Any]] = []
    for key, items in source.data.items():
        if key == "feeds" and isinstance(items, dict):
            lists += [(("feeds", name), rules) for name, rules in items.items()]
        else:
            lists.append(((key,), items))
    for loc, items in lists:
        where = f"{source.path}:{source.line_of(loc)}: {'.'.join(map(str, loc))}"
        if items is None:
            continue
        if not isinstance(items, list):
            problems.append(f"{where}: should be a list of patterns")
            continue
        for i, item in enumerate(items):
            pattern = item.get("pattern") if isinstance(item, dict) else item
            line = source.line_of((*loc, i))
            if not isinstance(pattern, str):
                problems.append(
                    f"{source.path}:{line}: {'.'.join(map(str, loc))}.{i}: should be a pattern "
                    "or a mapping with pattern (and max_words)"
                )
                continue
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(
                    f"{source.path}:{line}: {'.'.join(map(str, loc))}.{i}: {pattern!r} is not "
                    f"a valid regular expression: {exc}"
                )


def _check_outbox(outbox: Path, problem: Any) -> None:
    """The outbox folder, or the nearest folder above it that exists, can be written: it is
    created at the first run, never by reading the configuration."""
    existing = outbox
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        problem(
            ("outbox",),
            f"cannot create the folder {outbox}: {existing} is a file, not a "
            "folder (choose another outbox path)",
        )
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem(
            ("outbox",),
            f"cannot write in {existing} (this user may not write there; "
            "choose another outbox path or change the folder's permissions)",
        )
