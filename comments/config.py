"""Settings: one frozen Config, loaded once from the environment and an optional TOML file."""

from __future__ import annotations

import dataclasses
import enum
import functools
import ipaddress
import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from comments.addresses import SiteTable, parse_address
from comments.models import (
    BanAction,
    Commenters,
    Moderation,
    ModeratorMail,
    Notify,
    SmtpSecurity,
)
from comments.schedule import InForce, Schedule, parse_site_schedules

PREFIX = "COMMENTS_"
# Read by the test suite, not the server; tolerated so servers start inside a test run.
IGNORED_VARIABLES = frozenset({"COMMENTS_TEST_DATABASE_URL", "COMMENTS_TEST_REDIS_URL"})
SECRET_FILE = "secret.key"
DATABASE_FILE = "comments.db"


class ConfigError(ValueError):
    """A setting is unknown or invalid; the message is one line naming it."""


@dataclasses.dataclass(frozen=True)
class Config:
    data_dir: Path = Path("data")
    database_url: str = ""
    read_database_url: str = ""  # a replica for thread pages, counts and feeds; "" = the primary
    secret_key: str = dataclasses.field(default="", repr=False)
    origins: tuple[str, ...] = ()
    moderation: Moderation = Moderation.POST
    site_moderation: tuple[tuple[str, Moderation], ...] = ()  # per-site exceptions
    # Who may comment (anyone, or verified readers only), and per-site exceptions
    commenters: Commenters = Commenters.ANONYMOUS
    site_commenters: tuple[tuple[str, Commenters], ...] = ()
    # The emails of each site's articles' authors: their verified comments carry the badge
    site_authors: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Readers sign in by a link mailed to them (when mail is set up), for this long per sign-in
    reader_sign_in: bool = True
    reader_session_lifetime: int = 30 * 86400
    # Each site's canonical name and the other names its pages are reached by (see SiteTable).
    site_aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # The query parameters that make a different page, per site; every other one is ignored.
    site_query_parameters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    edit_window: int = 15 * 60
    max_length: int = 10_000
    rate_limit: int = 10
    preview_rate_limit: int = 60
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    public_url_setting: str = ""
    # The HTTP server's own bounds (comments/serving.py), per worker
    header_timeout: int = 10
    body_timeout: int = 30
    max_connections: int = 1000
    # A line per request from uvicorn; off behind a proxy that logs them already, where the
    # line costs more CPU than the rest of a cached read
    access_log: bool = True
    # Live streams (comments/streams.py), per worker: at most this many open at once (0 turns
    # them off; serving.stream_limit keeps it under max_connections, which streams count in), a
    # comment line this often so proxies keep them open, and an end after this long without a
    # change (the embed opens a new one when its reader comes back).
    max_streams: int = 500
    stream_heartbeat: int = 25
    stream_idle: int = 15 * 60
    # Moderators and their mail
    notify_moderators: Notify = Notify.REVIEW
    moderator_emails: tuple[str, ...] = ()
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: SmtpSecurity = SmtpSecurity.STARTTLS
    smtp_user: str = ""
    smtp_password: str = dataclasses.field(default="", repr=False)
    mail_from: str = ""
    webhook_url: str = ""
    webhook_secret: str = dataclasses.field(default="", repr=False)
    password_memory: int = 65536
    session_lifetime: int = 14 * 86400
    link_lifetime: int = 7 * 86400
    # Defenses in the posting path; 0 turns each off
    thread_rate_limit: int = 30
    report_threshold: int = 3
    min_write_seconds: int = 3
    max_links: int = 3
    blocked_words: tuple[str, ...] = ()
    duplicate_window: int = 600
    ban_action: BanAction = BanAction.REJECT
    # Surges (comments/surge.py): comments a minute into one thread (of every kind, refused
    # attempts included) that move it to slow mode, then to holding newcomers; how long a surge
    # outlasts its rate; and the bot challenge's work, in leading zero bits of a SHA-256
    surge_rate: int = 20
    surge_hold_rate: int = 40
    slow_mode_seconds: int = 30
    surge_relax: int = 5 * 60
    challenge_difficulty: int = 17
    # Moderation on a schedule, per site (comments/schedule.py)
    site_schedule: tuple[tuple[str, Schedule], ...] = ()
    # Moderators' mail: at once but coalesced over a window, or in hourly or daily digests
    moderator_mail: ModeratorMail = ModeratorMail.IMMEDIATE
    moderator_mail_window: int = 5 * 60
    moderator_mail_time: int = 7 * 3600  # seconds after midnight UTC that daily digests go
    # Where the rate limits count ("" = the database); may carry a password
    redis_url: str = dataclasses.field(default="", repr=False)
    # Memory each worker's cache of thread pages may hold, in MiB (comments/pagecache.py)
    page_cache_mb: int = 64

    @functools.cached_property
    def site_table(self) -> SiteTable:
        return SiteTable.build(self.origins, self.site_aliases)

    def site_of_origin(self, origin: str | None) -> str:
        """The site a request or a command is about, from an Origin (`https://www.example.org`)
        or a name (`example.org`): the one function that maps addresses to sites. An address no
        setting reaches gets the default site."""
        return self.site_table.find(origin or "") or self.default_site

    def known_site(self, address: str) -> str | None:
        """The configured site an origin or a name reaches, or None."""
        return self.site_table.find(address)

    @property
    def sites(self) -> tuple[str, ...]:
        """The configured sites' canonical names, the default first."""
        return self.site_table.sites or ("localhost",)

    @property
    def site_hosts(self) -> tuple[str, ...]:
        """The configured sites' names, none when no origin is configured (the admin's site
        filter offers these)."""
        return self.site_table.sites

    @property
    def default_site(self) -> str:
        """The site of requests that name no allowed origin: the first configured one."""
        return self.site_table.sites[0] if self.site_table.sites else "localhost"

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        """Origins whose pages may post: COMMENTS_ORIGINS and the aliases written as origins."""
        return self.site_table.allowed_origins

    def origin_of_site(self, site: str) -> str | None:
        """Where the site's pages are: the allowed origin of its own name, else the first that
        reaches it."""
        reaching = [
            origin for origin in self.allowed_origins if self.site_table.find(origin) == site
        ]
        named = [origin for origin in reaching if parse_address(origin)[1] == site]
        return (named or reaching or [None])[0]

    def query_parameters_of(self, site: str) -> frozenset[str]:
        """The query parameters that make a different page of this site (usually none)."""
        for name, parameters in self.site_query_parameters:
            if (self.known_site(name) or name) == site:
                return frozenset(parameters)
        return frozenset()

    @property
    def public_url(self) -> str:
        """Where readers and moderators reach this server (links in mail point here)."""
        if self.public_url_setting:
            return self.public_url_setting
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    def moderation_of(self, site: str) -> Moderation:
        """The moderation mode of one site: its own if set, else the server's."""
        for name, mode in self.site_moderation:
            if (self.known_site(name) or name) == site:
                return mode
        return self.moderation

    def commenters_of(self, site: str) -> Commenters:
        """Who may comment on a site: its own setting if set, else the server's."""
        for name, who in self.site_commenters:
            if (self.known_site(name) or name) == site:
                return who
        return self.commenters

    def authors_of(self, site: str) -> tuple[str, ...]:
        """The emails (lower case) whose verified comments on the site carry the author badge."""
        for name, emails in self.site_authors:
            if (self.known_site(name) or name) == site:
                return tuple(email.lower() for email in emails)
        return ()

    @property
    def readers_sign_in(self) -> bool:
        """Readers can sign in: the setting allows it and mail can take them the link."""
        return self.reader_sign_in and self.mail_enabled

    def moderation_at(self, site: str, now: datetime) -> InForce:
        """The mode in force on a site at `now`, after its schedule, and until when."""
        schedule = dict(self.site_schedule).get(site)
        base = self.moderation_of(site)
        return schedule.in_force(base, now) if schedule else InForce(base)

    def thread_closes(self, site: str, began: datetime | None) -> datetime | None:
        """When a thread of the site that began at `began` closes by age, if its schedule says."""
        schedule = dict(self.site_schedule).get(site)
        return schedule.closes(began) if schedule else None

    @property
    def mail_enabled(self) -> bool:
        return bool(self.smtp_host)


def _parse_duration(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not match:
        raise ValueError("expected seconds or a duration like 90s, 15m, 2h")
    return int(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]


def _parse_int(low: int, high: int):
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise ValueError(f"expected a whole number from {low} to {high}")
        return value

    return parse


def _parse_site_choices(value: str | dict, choices: type[enum.Enum]) -> tuple[tuple[str, Any], ...]:
    """`blog.example.org=pre, other.example=trusted`, or a TOML table of the same."""
    pairs = (
        value.items()
        if isinstance(value, dict)
        else (item.partition("=")[::2] for item in _split(value))
    )
    parsed = []
    for site, mode in pairs:
        if not str(site).strip():
            raise ValueError("expected site=value pairs, e.g. blog.example.org=pre")
        parsed.append((str(site).strip().lower(), _parse_choice(choices, str(mode))))
    return tuple(parsed)


def _parse_site_lists(value: str | dict, parse_item) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`site=a,b; other=c` (an item with `=` starts the next site; `,` or `;` separate items),
    or a TOML table of lists: `"site" = ["a", "b"]`."""
    if isinstance(value, dict):
        groups = [(str(site), _split(items)) for site, items in value.items()]
    else:
        groups = []
        for item in (part.strip() for part in re.split("[,;]", value) if part.strip()):
            if "=" in item:
                site, _, first = item.partition("=")
                groups.append((site, [first.strip()] if first.strip() else []))
            elif groups:
                groups[-1][1].append(item)
            else:
                raise ValueError(
                    "expected site=name,name; e.g. blog.example.org=www.blog.example.org"
                )
    parsed: dict[str, tuple[str, ...]] = {}
    for site, items in groups:
        scheme, name = parse_address(site) if site.strip() else ("", "")
        if scheme is not None or not name:
            raise ValueError(
                f"{site.strip()!r}: a site is named by its host, e.g. blog.example.org"
            )
        if name in parsed:
            raise ValueError(f"{name} is listed twice")
        parsed[name] = tuple(parse_item(item) for item in items)
    return tuple(parsed.items())


def _parse_alias(text: str) -> str:
    scheme, host = parse_address(text)
    return f"{scheme}://{host}" if scheme else host


def _parse_query_parameter(text: str) -> str:
    name = text.strip()
    if not re.fullmatch(r"[^\s=&#?]+", name):
        raise ValueError(f"{name!r} is not a query parameter's name")
    return name


def _parse_email(text: str) -> str:
    address = text.strip()
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>.]+", address):
        raise ValueError(f"{address!r} is not an email address")
    return address


def _parse_url(text: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an http or https URL")
    return text.strip()


SWITCHES = {"on": True, "true": True, "yes": True, "1": True}
SWITCHES |= {"off": False, "false": False, "no": False, "0": False}


def _parse_switch(text: str) -> bool:
    """`on` or `off` (also true/false, yes/no, 1/0; a TOML boolean arrives as `True`)."""
    try:
        return SWITCHES[text.strip().lower()]
    except KeyError:
        raise ValueError("expected on or off") from None


def _parse_choice(choices: type[enum.Enum], text: str):
    try:
        return choices(text.strip().lower())
    except ValueError:
        names = ", ".join(choice.value for choice in choices)
        raise ValueError(f"expected one of {names}") from None


def _parse_origin(text: str) -> str:
    parts = urlsplit(text.strip().rstrip("/"))
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
        raise ValueError(f"{text!r} is not an origin like https://blog.example.org")
    return f"{parts.scheme}://{parts.netloc.lower()}"


def _split(text: str | list) -> list[str]:
    items = text if isinstance(text, list) else str(text).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def _parse_redis_url(text: str) -> str:
    url = text.strip()
    if url and urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("expected a redis://, rediss:// or unix:// URL")
    return url


SECRET_SETTINGS = {"secret_key", "smtp_password", "webhook_secret"}
URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def shown(key: str, value: Any) -> Any:
    """A setting's value fit for an error message: secrets hidden, passwords in URLs masked."""
    if key in SECRET_SETTINGS:
        return "***"
    return URL_PASSWORD.sub(r"\1***@", value) if isinstance(value, str) else value


def _parse_database_url(text: str) -> str:
    """Accept URLs as hosting providers hand them out and choose the driver we ship."""
    url = text.strip()
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    if url.startswith(("postgresql+psycopg://", "sqlite://")):
        return url
    raise ValueError("expected a sqlite:/// or postgresql:// URL")


PARSERS: dict[str, Any] = {
    "data_dir": lambda text: Path(str(text)),
    "database_url": _parse_database_url,
    "read_database_url": _parse_database_url,
    "secret_key": lambda text: str(text).strip() or _raise("must not be empty"),
    "origins": lambda text: tuple(_parse_origin(item) for item in _split(text)),
    "moderation": lambda text: _parse_choice(Moderation, text),
    "site_moderation": lambda value: _parse_site_choices(value, Moderation),
    "commenters": lambda text: _parse_choice(Commenters, text),
    "site_commenters": lambda value: _parse_site_choices(value, Commenters),
    "site_authors": lambda value: _parse_site_lists(value, _parse_email),
    "reader_sign_in": lambda value: _parse_switch(value),
    "reader_session_lifetime": lambda text: _parse_duration(str(text)),
    "site_aliases": lambda value: _parse_site_lists(value, _parse_alias),
    "site_query_parameters": lambda value: _parse_site_lists(value, _parse_query_parameter),
    "edit_window": lambda text: _parse_duration(str(text)),
    # Past 100k characters even a plain text costs real CPU to render; the markup of a text is
    # bounded besides, whatever its length (sanitize.MAX_MARKUP).
    "max_length": _parse_int(1, 100_000),
    "rate_limit": _parse_int(0, 1_000_000),
    "preview_rate_limit": _parse_int(0, 1_000_000),
    "trusted_proxies": lambda text: tuple(
        ipaddress.ip_network(item, strict=False) for item in _split(text)
    ),
    "host": str,
    "port": _parse_int(1, 65535),
    "workers": _parse_int(1, 64),
    "header_timeout": lambda text: _parse_timeout(str(text)),
    "body_timeout": lambda text: _parse_timeout(str(text)),
    "max_connections": _parse_int(1, 1_000_000),
    "access_log": lambda value: _parse_switch(value),
    "max_streams": _parse_int(0, 1_000_000),
    "stream_heartbeat": lambda text: _parse_timeout(str(text)),
    "stream_idle": lambda text: _parse_duration(str(text)),
    "public_url": lambda text: _parse_url(text).rstrip("/"),
    "notify_moderators": lambda text: _parse_choice(Notify, text),
    "moderator_emails": lambda text: tuple(_parse_email(item) for item in _split(text)),
    "smtp_host": str,
    "smtp_port": _parse_int(1, 65535),
    "smtp_security": lambda text: _parse_choice(SmtpSecurity, text),
    "smtp_user": str,
    "smtp_password": str,
    "mail_from": lambda text: _parse_email(text),
    "webhook_url": lambda text: _parse_url(text),
    "webhook_secret": str,
    "password_memory": _parse_int(8, 4 * 1024 * 1024),
    "session_lifetime": lambda text: _parse_duration(str(text)),
    "link_lifetime": lambda text: _parse_duration(str(text)),
    "thread_rate_limit": _parse_int(0, 1_000_000),
    "report_threshold": _parse_int(0, 1_000_000),
    "min_write_seconds": _parse_int(0, 3600),
    "max_links": _parse_int(0, 1_000_000),
    "blocked_words": lambda text: tuple(word.lower() for word in _split(text)),
    "duplicate_window": lambda text: _parse_duration(str(text)),
    "ban_action": lambda text: _parse_choice(BanAction, text),
    "surge_rate": _parse_int(0, 1_000_000),
    "surge_hold_rate": _parse_int(0, 1_000_000),
    "slow_mode_seconds": lambda text: _parse_duration(str(text)),
    "surge_relax": lambda text: _parse_duration(str(text)),
    # Each bit doubles the reader's work; past 28 a phone would take minutes.
    "challenge_difficulty": _parse_int(0, 28),
    "redis_url": _parse_redis_url,
    "page_cache_mb": _parse_int(0, 64 * 1024),
    "site_schedule": parse_site_schedules,
    "moderator_mail": lambda text: _parse_moderator_mail(text)[0],
    "moderator_mail_window": lambda text: _parse_duration(str(text)),
}
# Settings whose name in the Config differs (a property of the same name derives the value).
FIELD_NAMES = {"public_url": "public_url_setting"}


def _parse_timeout(text: str) -> int:
    seconds = _parse_duration(text)
    if not 1 <= seconds <= 3600:
        raise ValueError("expected 1 second to 1 hour")
    return seconds


def _parse_moderator_mail(text: str) -> tuple[ModeratorMail, int | None]:
    """`immediate`, `hourly`, `daily`, or `daily 07:00` (the hour in UTC)."""
    choice, _, hour = str(text).strip().partition(" ")
    mode = _parse_choice(ModeratorMail, choice)
    if not hour.strip():
        return mode, None
    match = re.fullmatch(r"(\d\d?):(\d\d)", hour.strip())
    if mode is not ModeratorMail.DAILY or not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError("expected immediate, hourly, daily, or daily HH:MM (UTC)")
    return mode, int(match[1]) * 3600 + int(match[2]) * 60


def _raise(message: str):
    raise ValueError(message)


def load(
    environ: Mapping[str, str],
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Settings from the TOML file, then COMMENTS_* variables, then explicit overrides."""
    raw: dict[str, tuple[str, Any]] = {}
    path = path or environ.get(PREFIX + "CONFIG")
    if path:
        try:
            with open(path, "rb") as file:
                for key, value in tomllib.load(file).items():
                    raw[key] = (f"{key} in {path}", value)
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"config file {path}: {error}") from None
    for name, value in environ.items():
        if not name.startswith(PREFIX) or name in IGNORED_VARIABLES or name == PREFIX + "CONFIG":
            continue
        raw[name[len(PREFIX) :].lower()] = (name, value)
    for key, value in (overrides or {}).items():
        if value is not None:
            raw[key] = (f"--{key.replace('_', '-')}", value)

    values: dict[str, Any] = {}
    for key, (source, value) in raw.items():
        if key not in PARSERS:
            raise ConfigError(f"{source}: unknown setting")
        try:
            values[key] = PARSERS[key](value if isinstance(value, list | dict) else str(value))
        except ValueError as error:
            raise ConfigError(f"{source}: invalid value {shown(key, value)!r}: {error}") from None

    # Mail and webhooks: settings that only work together.
    if values.get("smtp_host") and not values.get("mail_from"):
        raise ConfigError("smtp_host is set but mail_from is not: mail needs a From address")
    if values.get("webhook_url") and not values.get("webhook_secret"):
        raise ConfigError("webhook_url is set but webhook_secret is not: webhooks are signed")

    try:
        SiteTable.build(values.get("origins", ()), values.get("site_aliases", ()))
    except ValueError as error:
        raise ConfigError(f"site_aliases: {error}") from None
    if "moderator_mail" in raw:  # `daily 07:00` carries the hour too
        hour = _parse_moderator_mail(str(raw["moderator_mail"][1]))[1]
        if hour is not None:
            values["moderator_mail_time"] = hour

    data_dir = values.setdefault("data_dir", Config.data_dir)
    values.setdefault("database_url", f"sqlite:///{Path(data_dir).resolve() / DATABASE_FILE}")
    if "secret_key" not in values:
        values["secret_key"] = read_or_create_secret(Path(data_dir))
    return Config(**{FIELD_NAMES.get(key, key): value for key, value in values.items()})


def read_or_create_secret(data_dir: Path) -> str:
    """Keep a generated secret in the data directory so tokens survive restarts."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE
    try:
        # O_EXCL: when several workers start at once, exactly one writes the secret.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text().strip()
        if not secret:
            raise ConfigError(f"{path}: the secret key file is empty") from None
        return secret
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as file:
        file.write(secret + "\n")
    return secret
