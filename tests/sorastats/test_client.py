"""Pure parts of the fetcher: settings, backoff, Retry-After, safe URLs, progress."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from sorastats import config
from sorastats.client import backoff_delay, public_url, retry_after_seconds
from sorastats.ingest import Counts
from sorastats.progress import Progress, summary


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (0, 0.5, 3.0),
        (1, 0.5, 6.0),
        (4, 0.5, 48.0),
        (0, 0.0, 2.25),  # -25 % jitter
        (0, 1.0, 3.75),  # +25 % jitter
        (10, 0.5, 300.0),  # capped
    ],
)
def test_backoff_delay(attempt: int, rand: float, expected: float) -> None:
    assert backoff_delay(attempt, 3.0, 300.0, rand=lambda: rand) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
    ],
)
def test_retry_after_seconds(header: str | None, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC).timestamp()
    assert retry_after_seconds(header, now=now) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://sora.chatgpt.com/backend/project_y/",
            "https://sora.chatgpt.com/backend/project_y",
        ),
        ("https://user:secret@host.example:8443/api?token=abc#x", "https://host.example:8443/api"),
        ("http://127.0.0.1:5000/backend/project_y", "http://127.0.0.1:5000/backend/project_y"),
    ],
)
def test_public_url_drops_credentials_and_query(url: str, expected: str) -> None:
    assert public_url(url) == expected


def test_settings_defaults_and_casts() -> None:
    loaded = config.load({})
    assert (loaded.token, loaded.timeout_s, loaded.retries, loaded.backoff_s) == (None, 30, 5, 3)
    loaded = config.load({"SORASTATS_RETRIES": "2", "SORASTATS_NOW": "2025-10-01T12:00:00Z"})
    assert loaded.retries == 2 and loaded.now == datetime(2025, 10, 1, 12)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SORASTATS_RETRIES": "many"}, "SORASTATS_RETRIES='many' is invalid"),
        ({"SORASTATS_RETRIES": "-1"}, "SORASTATS_RETRIES='-1' is invalid"),
        ({"SORASTATS_TIMEOUT_S": "fast"}, "SORASTATS_TIMEOUT_S='fast' is invalid"),
        ({"SORASTATS_NOW": "yesterday"}, "SORASTATS_NOW='yesterday' is invalid"),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(config.ConfigError, match=message):
        config.load(env)


def test_token_never_in_repr() -> None:
    loaded = config.load({"SORA_TOKEN": "tok-123-secret"})
    assert loaded.token == "tok-123-secret"
    assert "tok-123-secret" not in repr(loaded)


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_shows_pages_and_rate() -> None:
    stream = FakeTTY()
    progress = Progress("import", stream)
    progress.update(3, 1200, force=True)
    progress.done()
    text = stream.getvalue()
    assert "import: 3 pages, 1,200 items," in text and "items/s" in text


def test_progress_that_drew_nothing_ends_no_line() -> None:
    stream = FakeTTY()
    Progress("fetch", stream).done()  # e.g. a run refused before its first page
    assert stream.getvalue() == ""


def test_progress_is_silent_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress("import", stream)
    progress.update(3, 1200, force=True)
    progress.done()
    assert stream.getvalue() == ""


def test_summary_names_every_count() -> None:
    line = summary("import", Counts(new_posts=2, updated_posts=1, snapshots=5, quarantined=1), 1.25)
    for part in ("2 new, 1 updated posts", "5 snapshots", "1 quarantined", "1.2 s"):
        assert part in line
