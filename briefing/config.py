"""Typed configuration, validated once at start-up.

Three files an editor edits: `briefing.yaml` (settings), `feeds.yaml` and `subscribers.yaml`
(paths relative to briefing.yaml). Every problem names its file, line and field, and all of
them are reported at once. Secrets (the SMTP password) come only from environment variables.
"""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from briefing.errors import ConfigError
from briefing.yamlsource import YamlSource, load_yaml

_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an email address (expected name@example.com)")
    return value


Email = Annotated[str, Field(min_length=3)]
SectionId = Annotated[str, Field(pattern=_NAME.pattern)]


class Feed(Strict):
    name: str = Field(min_length=1)
    url: str
    section: SectionId
    weight: float = Field(default=1.0, gt=0, le=10)
    language: str = Field(default="ar", pattern=r"^[a-z]{2}$")
    enabled: bool = True
    # Fetch the article page when the feed gives a teaser: always, never, or "auto" when the
    # feed's text is shorter than ingest.teaser_words.
    full_text: Literal["always", "never", "auto"] = "auto"
    # Keywords or /regular expressions/, matched on normalized text (title, description, body).
    # An item is kept when it matches any include (or there is none) and no exclude.
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    # Extra boilerplate line patterns for this feed only (same form as boilerplate.yaml).
    boilerplate: tuple[str, ...] = ()

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
    feeds: tuple[Feed, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> FeedsFile:
        names = [f.name for f in self.feeds]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"feed names must be unique; repeated: {', '.join(duplicates)}")
        return self


class Subscriber(Strict):
    email: Email
    name: str = ""
    sections: tuple[SectionId, ...] = ()  # empty: every section
    max_stories: int = Field(default=10, ge=1, le=100)
    format: Literal["html", "text"] = "html"
    language: Literal["ar", "en"] = "ar"  # language of the interface strings
    eastern_digits: bool = False  # write numbers in the interface as ٠١٢٣

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return _check_email(value)


class SubscribersFile(Strict):
    subscribers: tuple[Subscriber, ...] = ()


class Schedule(Strict):
    """`briefing serve`: poll feeds through the day, build the edition at a local time."""

    poll_every_minutes: float = Field(default=30, gt=0, le=24 * 60)
    edition_at: time = time(6, 30)  # in `timezone`; "06:30" or "06:30:00"
    # An edition that could not start on time (machine asleep, service restarted) still runs
    # if it is at most this late; later than that it waits for the next morning.
    misfire_grace_minutes: int = Field(default=60, ge=1)


class Ingest(Strict):
    timeout_seconds: float = Field(default=20, gt=0, le=300)  # read timeout, per chunk
    connect_timeout_seconds: float = Field(default=10, gt=0, le=120)
    deadline_seconds: float = Field(default=60, gt=0, le=900)  # whole request, slow trickles too
    concurrency: int = Field(default=16, ge=1, le=256)  # requests in flight, all hosts
    per_host: int = Field(default=4, ge=1, le=64)  # requests in flight to one host
    max_bytes: int = Field(default=10_000_000, ge=10_000)  # per response, after decompression
    user_agent: str = "briefing/0.1 (+https://github.com/briefing-news/briefing)"
    allow_file_urls: bool = False  # feeds on local disk (the demo, tests)
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

    window_hours: int = Field(default=48, ge=1, le=24 * 14)  # farther apart: never one story
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


class EmailSettings(Strict):
    sender: Email = "briefing@localhost.localdomain"
    sender_name: str = "موجز الصباح"
    # Both may contain {email}: replaced by the subscriber's address (URL-encoded), so that
    # one-click unsubscribe (RFC 8058) knows who clicked.
    unsubscribe_mailto: str | None = None  # mailto:unsubscribe@example.org
    unsubscribe_url: str | None = None  # https://example.org/unsubscribe?email={email}
    templates: str | None = None  # a folder of digest templates, relative to briefing.yaml

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _check_email(value)

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
    email: EmailSettings = EmailSettings()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Asia/Riyadh)") from None
        return value


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
    """Read and validate the three files; raise ConfigError listing every problem found."""
    path = Path(path)
    main = load_yaml(path)
    problems: list[str] = []
    settings = _validate(Settings, main, problems)
    # Even when briefing.yaml has problems, feeds and subscribers are checked too, so that
    # one run of check-config reports everything.
    feeds_src = load_yaml(path.parent / _file_setting(main, settings, "feeds_file"))
    subs_src = load_yaml(path.parent / _file_setting(main, settings, "subscribers_file"))
    feeds = _validate(FeedsFile, feeds_src, problems)
    subs = _validate(SubscribersFile, subs_src, problems)
    if settings and feeds:
        feed_sections = [(("feeds", i, "section"), f.section) for i, f in enumerate(feeds.feeds)]
        _check_sections(settings, feeds_src, feed_sections, problems)
        _check_file_urls(settings, feeds, feeds_src, problems)
    if settings and subs:
        wanted_sections = [
            (("subscribers", i, "sections", j), section)
            for i, sub in enumerate(subs.subscribers)
            for j, section in enumerate(sub.sections)
        ]
        _check_sections(settings, subs_src, wanted_sections, problems)
    if problems or settings is None or feeds is None or subs is None:
        raise ConfigError(problems)
    return Config(path=path, settings=settings, feeds=feeds.feeds, subscribers=subs.subscribers)


def _file_setting(source: YamlSource, settings: Settings | None, key: str) -> str:
    """The feeds/subscribers file name, from valid settings or, failing that, as written."""
    if settings is not None:
        return str(getattr(settings, key))
    written = source.data.get(key) if isinstance(source.data, dict) else None
    return written if isinstance(written, str) else str(Settings.model_fields[key].default)


def _validate(model: type[Strict], source: YamlSource, problems: list[str]) -> Any:
    data = source.data if source.data is not None else {}
    if not isinstance(data, dict):
        problems.append(f"{source.path}:1: expected a mapping of settings at the top level")
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(_describe(source, error))
        return None


def _describe(source: YamlSource, error: Any) -> str:
    loc = tuple(error["loc"])
    field = ".".join(str(p) for p in loc) or "(top level)"
    line = source.line_of(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        message = "unknown key (check its spelling; see the configuration reference in README.md)"
    elif kind == "missing":
        message = "required, but missing"
    else:
        message = error["msg"].removeprefix("Value error, ")
        given = error.get("input")
        if kind not in ("value_error",) and not isinstance(given, dict | list):
            message += f" (got {given!r})"
    return f"{source.path}:{line}: {field}: {message}"


def _check_sections(
    settings: Settings,
    source: YamlSource,
    pairs: list[tuple[tuple[Any, ...], str]],
    problems: list[str],
) -> None:
    known = ", ".join(settings.sections)
    for loc, section in pairs:
        if section not in settings.sections:
            field = ".".join(str(p) for p in loc)
            problems.append(
                f"{source.path}:{source.line_of(loc)}: {field}: unknown section {section!r} "
                f"(sections defined in briefing.yaml: {known})"
            )


def _check_file_urls(
    settings: Settings, feeds: FeedsFile, source: YamlSource, problems: list[str]
) -> None:
    if settings.ingest.allow_file_urls:
        return
    for i, feed in enumerate(feeds.feeds):
        if feed.url.startswith("file:"):
            loc = ("feeds", i, "url")
            problems.append(
                f"{source.path}:{source.line_of(loc)}: feeds.{i}.url: file: URLs are off "
                "(set ingest.allow_file_urls: true in briefing.yaml to read feeds from disk)"
            )
