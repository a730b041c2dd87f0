"""The rules of the first-party usage metrics, pure (no I/O), table-tested:

- `EVENTS`, the one declarative table of what may be counted: page views, named feature
  interactions (never their content) and three Core Web Vitals with bounds on their value.
  `POST /api/events` accepts nothing else, the report and /admin/metrics/ name them from
  here, and a test checks that the page script (templates/static/metrics.js) sends only
  these names.
- how a path is normalised (no query, no fragment, bounded length);
- the visitor hash: keyed BLAKE2b of (site, IP, user agent) under the salt of the day, so
  a visitor is counted once a day and cannot be followed from one day to the next, and
  nothing about the IP or the browser is stored (Plausible's method);
- who is not counted: Do Not Track, Global Privacy Control, bots;
- bursts: a token bucket per visitor hash, in memory.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final


class Kind(StrEnum):
    VIEW = "view"  # a page was shown
    ACTION = "action"  # a named feature was used (no content)
    VITAL = "vital"  # a Core Web Vital, with its value


@dataclass(frozen=True)
class EventType:
    name: str
    kind: Kind
    meaning: str
    unit: str = ""  # vitals: the value's unit
    maximum: float = 0.0  # vitals: the largest value accepted (the minimum is 0)


EVENTS: Final[tuple[EventType, ...]] = (
    EventType("page_view", Kind.VIEW, "a page was shown"),
    EventType("search", Kind.ACTION, "a search was run (not what was searched for)"),
    EventType("copy_prompt", Kind.ACTION, "a prompt was copied (not which text)"),
    EventType("favorite", Kind.ACTION, "a video was added to or removed from favorites"),
    EventType("watch", Kind.ACTION, "a creator or video was put on or taken off the watchlist"),
    EventType("vault_unlock", Kind.ACTION, "the vault was unlocked"),
    EventType("vault_save", Kind.ACTION, "a private prompt was saved (no content)"),
    EventType("vault_delete", Kind.ACTION, "a private prompt was deleted"),
    EventType("vault_export", Kind.ACTION, "the vault was exported"),
    EventType("vault_import", Kind.ACTION, "an import from a Sora backup finished"),
    EventType("lcp", Kind.VITAL, "Largest Contentful Paint", "ms", 120_000),
    EventType("inp", Kind.VITAL, "Interaction to Next Paint", "ms", 60_000),
    EventType("cls", Kind.VITAL, "Cumulative Layout Shift", "score", 100),
)
BY_NAME: Final[dict[str, EventType]] = {e.name: e for e in EVENTS}

MAX_BODY_BYTES: Final = 2048  # a batch of events; larger bodies answer 413
MAX_BATCH: Final = 10  # events in one request
MAX_PATH: Final = 200  # characters of a normalised path
_PATH_OK = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*")

# Bursts: each visitor hash may send BURST events at once, then RATE per second.
BURST: Final = 60
RATE: Final = 5.0
MAX_BUCKETS: Final = 100_000  # the oldest buckets are forgotten past this

# User agents of crawlers, monitors and scripts: their events are dropped, not counted.
BOT_UA: Final = re.compile(
    r"bot|crawl|spider|slurp|facebookexternalhit|headless|lighthouse|pingdom|uptime|"
    r"monitor|curl/|wget/|python-|httpx|go-http-client|java/|okhttp|axios|node-fetch|"
    r"scrapy|phantomjs|selenium|playwright|puppeteer|preview",
    re.I,
)


class EventError(ValueError):
    """An event is not acceptable; the message names it (answered as 400)."""


@dataclass(frozen=True)
class Event:
    name: str
    path: str
    value: float | None


def event_schema() -> dict[str, Any]:
    """The request body, as /api/openapi.json documents it (checked by `parse_events`)."""
    return {
        "type": "object",
        "required": ["events"],
        "additionalProperties": False,
        "properties": {
            "events": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_BATCH,
                "items": {
                    "type": "object",
                    "required": ["name", "path"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string", "enum": [e.name for e in EVENTS]},
                        "path": {"type": "string", "minLength": 1, "maxLength": 2 * MAX_PATH},
                        "value": {
                            "type": "number",
                            "minimum": 0,
                            "description": "Web vitals only: LCP and INP in ms, CLS a score",
                        },
                    },
                },
            }
        },
    }


def normalise_path(raw: str) -> str:
    """`/p/abc/?q=1#x` -> `/p/abc/`: no query or fragment, no repeated slashes, no
    `index.html`; refused when not a site path or too long."""
    path = raw.split("#", 1)[0].split("?", 1)[0]
    if not path.startswith("/") or path.startswith("//"):
        raise EventError("path: must be a path on this site, starting with one /")
    path = re.sub(r"/{2,}", "/", path)
    if path.endswith("/index.html"):
        path = path[: -len("index.html")]
    if len(path) > MAX_PATH:
        raise EventError(f"path: at most {MAX_PATH} characters")
    if not _PATH_OK.fullmatch(path):
        raise EventError("path: has characters a site path does not")
    return path


def parse_events(data: Any) -> list[Event]:
    """The events of a parsed JSON body, or EventError naming the first problem."""
    if not isinstance(data, dict) or set(data) != {"events"}:
        raise EventError('body: expected {"events": [...]}')
    items = data["events"]
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise EventError(f"events: expected a list of 1 to {MAX_BATCH} events")
    events = []
    for i, item in enumerate(items):
        where = f"events[{i}]"
        if not isinstance(item, dict):
            raise EventError(f"{where}: expected an object")
        unknown = set(item) - {"name", "path", "value"}
        if unknown:
            raise EventError(f"{where}.{sorted(unknown)[0]}: unknown field")
        name, path = item.get("name"), item.get("path")
        if not isinstance(name, str) or name not in BY_NAME:
            raise EventError(f"{where}.name: not an event this site counts")
        if not isinstance(path, str) or len(path) > 2 * MAX_PATH:
            raise EventError(f"{where}.path: expected a path of at most {MAX_PATH} characters")
        try:
            normal = normalise_path(path)
        except EventError as exc:
            raise EventError(f"{where}.{exc}") from None
        kind = BY_NAME[name]
        value = item.get("value")
        if kind.kind is Kind.VITAL:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise EventError(f"{where}.value: {name} needs a number")
            if not 0 <= value <= kind.maximum:
                raise EventError(f"{where}.value: {name} must be between 0 and {kind.maximum:g}")
            events.append(Event(name, normal, float(value)))
        else:
            if "value" in item:
                raise EventError(f"{where}.value: only web vitals carry a value")
            events.append(Event(name, normal, None))
    return events


def day_of(now: float) -> str:
    """The UTC day of a Unix time, `2026-12-07`: the unit of salts and aggregates."""
    return _day_named(int(now // 86_400))


@functools.lru_cache(maxsize=4)
def _day_named(index: int) -> str:
    # Every event asks; formatting a datetime each time was 2 % of the beacon's CPU.
    return datetime.fromtimestamp(index * 86_400, UTC).strftime("%Y-%m-%d")


def day_start(day: str) -> int:
    return int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())


def visitor_hash(salt: bytes, site: str, ip: str, user_agent: str) -> str:
    """Who sent an event, for one day only: without the salt (deleted when its day ends)
    the hash cannot be linked to an IP, a browser or the next day's hash."""
    h = hashlib.blake2b(key=salt, digest_size=16)
    for part in (site, ip, user_agent):
        h.update(part.encode("utf-8", "replace"))
        h.update(b"\x00")
    return h.hexdigest()


def opted_out(headers: dict[str, str]) -> bool:
    """Do Not Track or Global Privacy Control: the visitor asked not to be measured."""
    return headers.get("dnt", "").strip() == "1" or headers.get("sec-gpc", "").strip() == "1"


def is_bot(user_agent: str) -> bool:
    # Browsers send the same few user agents again and again: the answer is remembered
    # for short ones (the regex was 3 % of the beacon's CPU).
    if len(user_agent) <= _REMEMBERED_UA_CHARS:
        return _is_bot(user_agent)
    return _bot_pattern_matches(user_agent)


_REMEMBERED_UA_CHARS = 512


@functools.lru_cache(maxsize=1024)
def _is_bot(user_agent: str) -> bool:
    return _bot_pattern_matches(user_agent)


def _bot_pattern_matches(user_agent: str) -> bool:
    return not user_agent.strip() or BOT_UA.search(user_agent) is not None


def objects(settings: dict[str, Any]) -> bool:
    """A signed-in user's objection to usage metrics (their site settings)."""
    return settings.get("metrics_objection") is True


class TokenBuckets:
    """Per-visitor-hash token buckets, in this process's memory only (a restart forgets
    them; each worker keeps its own). `take` answers whether `count` events may pass."""

    def __init__(self, burst: int = BURST, rate: float = RATE, size: int = MAX_BUCKETS) -> None:
        self.burst = burst
        self.rate = rate
        self.size = size
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, count: int, now: float) -> bool:
        tokens, at = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        allowed = tokens >= count
        if allowed:
            tokens -= count
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.size:
            self._buckets.popitem(last=False)
        return allowed

    def __len__(self) -> int:
        return len(self._buckets)


# Accepted events wait in memory and are written in one transaction per flush: when
# FLUSH_EVENTS are waiting, and every FLUSH_SECONDS (api/app.py), and at shutdown. A crash
# loses at most that much; a request never waits for the database.
FLUSH_EVENTS: Final = 256
FLUSH_SECONDS: Final = 1.0

Pending = tuple[str, int, str, Event]  # day, time, visitor hash, event


@dataclass
class MetricsState:
    """What one API process keeps in memory for the metrics: the salt of the current day
    (so recording an event reads nothing), the burst buckets and the events not yet
    written. Thread-safe where it must be: tests and the flusher take from any thread."""

    day: str = ""
    salt: bytes = b""
    buckets: TokenBuckets = field(default_factory=TokenBuckets)
    pending: list[Pending] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, day: str, at: int, visitor: str, events: list[Event]) -> bool:
        """Queue the events; True when a flush is due."""
        with self.lock:
            self.pending.extend((day, at, visitor, e) for e in events)
            return len(self.pending) >= FLUSH_EVENTS

    def take(self) -> list[Pending]:
        with self.lock:
            taken, self.pending = self.pending, []
        return taken

    def salt_for(self, day: str) -> bytes | None:
        return self.salt if day == self.day and self.salt else None

    def remember(self, day: str, salt: bytes) -> None:
        if day != self.day:
            self.buckets = TokenBuckets(self.buckets.burst, self.buckets.rate, self.buckets.size)
        self.day, self.salt = day, salt
