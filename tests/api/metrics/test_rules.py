"""The pure rules of the usage metrics, table-tested: path normalisation, the visitor
hash, who is not counted, the token bucket; and the page script that sends the events
(its size, what it sends, when it stays silent)."""

from __future__ import annotations

import re

import pytest

from api.metrics import rules
from api.metrics.rules import (
    BY_NAME,
    EVENTS,
    EventError,
    Kind,
    MetricsState,
    TokenBuckets,
    day_of,
    day_start,
    is_bot,
    normalise_path,
    opted_out,
    visitor_hash,
)
from sorastats.site.templating import asset_contents, asset_map
from tests.support.paths import ROOT

SCRIPT = ROOT / "templates" / "static" / "metrics.js"


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("/", "/"), ("/top/?page=2", "/top/"), ("/p/x/#c", "/p/x/"), ("/a//b///c/", "/a/b/c/"),
     ("/p/x/index.html", "/p/x/"), ("/index.html", "/"), ("/search/?q=secret%20prompt", "/search/"),
     ("/c/na%C3%AFve/", "/c/na%C3%AFve/")],
)  # fmt: skip
def test_paths_are_normalised(raw: str, normal: str) -> None:
    assert normalise_path(raw) == normal


@pytest.mark.parametrize(
    "raw", ["", "top/", "//evil.example/", "https://x.example/", "/a b", "/\u00e9", "/<x>",
            "/" + "a" * 200, "\\\\x"],
)  # fmt: skip
def test_bad_paths_are_refused(raw: str) -> None:
    with pytest.raises(EventError, match="path"):
        normalise_path(raw)


def test_the_visitor_hash_needs_the_salt_and_changes_with_each_part() -> None:
    salt, other = b"s" * 32, b"t" * 32
    base = visitor_hash(salt, "https://a.example", "203.0.113.1", "UA")
    assert len(base) == 32 and base == visitor_hash(salt, "https://a.example", "203.0.113.1", "UA")
    assert base != visitor_hash(other, "https://a.example", "203.0.113.1", "UA")
    assert base != visitor_hash(salt, "https://b.example", "203.0.113.1", "UA")
    assert base != visitor_hash(salt, "https://a.example", "203.0.113.2", "UA")
    assert base != visitor_hash(salt, "https://a.example", "203.0.113.1", "UA2")
    # Parts are separated: moving a character from one part to the next changes the hash.
    assert visitor_hash(salt, "ab", "c", "") != visitor_hash(salt, "a", "bc", "")


@pytest.mark.parametrize(
    ("headers", "out"),
    [({}, False), ({"dnt": "1"}, True), ({"sec-gpc": "1"}, True), ({"dnt": "0"}, False),
     ({"sec-gpc": "0"}, False), ({"dnt": " 1 "}, True)],
)  # fmt: skip
def test_dnt_and_gpc(headers: dict[str, str], out: bool) -> None:
    assert opted_out(headers) is out


@pytest.mark.parametrize(
    ("ua", "bot"),
    [("Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36", False),
     ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1", False),
     ("Mozilla/5.0 (compatible; Googlebot/2.1)", True), ("Bingbot", True), ("", True),
     ("curl/8.5.0", True), ("python-requests/2.31", True), ("Mozilla/5.0 HeadlessChrome", True),
     ("Chrome-Lighthouse", True)],
)  # fmt: skip
def test_bots(ua: str, bot: bool) -> None:
    assert is_bot(ua) is bot


def test_the_token_bucket_allows_a_burst_then_the_rate() -> None:
    buckets = TokenBuckets(burst=10, rate=2.0, size=3)
    assert buckets.take("v", 10, now=100.0)
    assert not buckets.take("v", 1, now=100.0)
    assert buckets.take("v", 1, now=100.5)  # half a second refills one
    assert not buckets.take("v", 1, now=100.5)
    assert buckets.take("v", 10, now=200.0)  # refilled, never above the burst
    assert not buckets.take("v", 1, now=200.0)
    assert buckets.take("w", 10, now=100.0)  # each visitor has its own
    for key in "xyz":
        buckets.take(key, 1, now=300.0)
    assert len(buckets) == 3  # the oldest are forgotten past `size`


def test_the_state_keeps_one_day_and_new_buckets_each_day() -> None:
    state = MetricsState()
    assert state.salt_for("2030-01-01") is None
    state.remember("2030-01-01", b"x")
    state.buckets.take("v", 1, 0.0)
    assert state.salt_for("2030-01-01") == b"x" and state.salt_for("2030-01-02") is None
    state.remember("2030-01-02", b"y")
    assert len(state.buckets) == 0


def test_days_are_utc() -> None:
    assert day_of(day_start("2030-01-02")) == "2030-01-02"
    assert day_of(day_start("2030-01-02") - 1) == "2030-01-01"


def test_every_vital_has_a_unit_and_a_bound_and_nothing_else_does() -> None:
    for e in EVENTS:
        assert (e.kind is Kind.VITAL) == bool(e.unit) == (e.maximum > 0)
    assert {e.name for e in EVENTS if e.kind is Kind.VITAL} == {"lcp", "inp", "cls"}


def test_the_page_script_is_small_and_sends_only_declared_events() -> None:
    data = SCRIPT.read_bytes()
    assert len(data) < 2048, f"metrics.js is {len(data)} bytes; the budget is 2 KB"
    text = data.decode()
    assert "sendBeacon" in text and "/api/events" in text
    for needle in ("doNotTrack", "globalPrivacyControl", "metrics_objection"):
        assert needle in text
    # Nothing stored, no cookie, no third party.
    for needle in ("document.cookie", "localStorage.setItem", "indexedDB", "sessionStorage",
                   "http://", "https://", "fetch("):  # fmt: skip
        assert needle not in text
    sent = set(re.findall(r'track\("([a-z_]+)"\)', text))
    sent |= set(re.findall(r"vitals\.([a-z]+) =", text))
    for script in (ROOT / "templates" / "static").rglob("*.js"):
        sent |= set(re.findall(r'"sorastats:track", \{ detail: "([a-z_]+)" \}', script.read_text()))
    assert sent <= set(BY_NAME), sent - set(BY_NAME)
    assert {
        "page_view",
        "copy_prompt",
        "search",
        "lcp",
        "cls",
        "inp",
        "vault_save",
        "vault_delete",
        "vault_unlock",
        "vault_export",
        "vault_import",
        "favorite",
    } <= sent


def test_every_page_loads_the_script_deferred() -> None:
    # metrics.js ships inside site.js (one request), which every page loads as a module.
    base = (ROOT / "templates" / "base.html").read_text()
    assert '<script type="module" src="{{ asset(\'site.js\') }}"></script>' in base
    bundle = asset_contents(ROOT / "templates" / "static")["site.js"].decode()
    assert SCRIPT.read_text().strip() in bundle and "metrics.js" not in asset_map(
        ROOT / "templates" / "static"
    )


@pytest.mark.parametrize(
    ("now", "day"),
    [
        (0.0, "1970-01-01"),
        (1_796_601_599.999, "2026-12-06"),  # the last instant of a day
        (1_796_601_600.0, "2026-12-07"),  # the first of the next
        (1_796_687_999.5, "2026-12-07"),
    ],
)
def test_day_of_is_the_utc_day_at_both_edges(now: float, day: str) -> None:
    assert rules.day_of(now) == day
    assert rules.day_of(now) == day  # remembered days answer the same


@pytest.mark.parametrize("pad", [0, 600])  # short ones are remembered, long ones are not
def test_bots_are_found_however_long_the_user_agent(pad: int) -> None:
    browser = "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36" + " x" * pad
    assert not rules.is_bot(browser) and not rules.is_bot(browser)
    assert rules.is_bot(browser + " Googlebot/2.1") and rules.is_bot(browser + " Googlebot/2.1")
    assert rules.is_bot(" " * (pad + 1))
