"""The retention table (sorastats/retention.py) outside the API's database: quarantine
aged past its period goes at the next ingest run, the nightly keeps the table's count of
reports, the deploy files hold the server logs' period, and the privacy page shows the
table. The rows `python -m api maintenance` applies are tested in
tests/api/test_retention.py, on both database backends."""

from __future__ import annotations

import configparser
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sorastats import db, importer, nightly, retention
from sorastats.retention import RETENTION, Deleter, Retention, duration_text
from sorastats.site.content import load_content
from tests.support.ingest import wrapper
from tests.support.paths import ROOT

# Rows each test here covers, by what deletes them; the API's rows are tested elsewhere.
COVERED_HERE = {Deleter.INGEST, Deleter.NIGHTLY, Deleter.LOGROTATE}


def test_every_row_is_applied_by_something_tested() -> None:
    deleters = {row.deleted_by for row in RETENTION}
    assert deleters == COVERED_HERE | {Deleter.MAINTENANCE}
    keys = [row.key for row in RETENTION]
    assert len(keys) == len(set(keys))
    for row in RETENTION:
        assert row.deleted_by.text and row.data and row.since


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1, "1 second"), (900, "15 minutes"), (3600, "1 hour"), (7200, "2 hours"),
     (86400, "24 hours"), (7 * 86400, "7 days"), (90 * 86400, "90 days"), (90, "90 seconds")],
)  # fmt: skip
def test_periods_read_as_words(seconds: int, text: str) -> None:
    assert duration_text(seconds) == text


def test_a_row_has_a_period_or_a_count() -> None:
    with pytest.raises(ValueError, match="not both"):
        Retention("x", "x", 60, "x", Deleter.MAINTENANCE, keep=3)
    with pytest.raises(ValueError, match="not both"):
        Retention("x", "x", None, "x", Deleter.MAINTENANCE)
    with pytest.raises(ValueError, match="not both"):
        Retention("x", "x", 60, "x", Deleter.MAINTENANCE, until="the end")
    assert retention.BY_KEY["capture archive"].period.startswith("while the post is public")
    with pytest.raises(ValueError, match="count"):
        retention.seconds("nightly reports")
    with pytest.raises(ValueError, match="period"):
        retention.keep("sessions")
    with pytest.raises(KeyError):
        retention.seconds("no such data")


# --- quarantine: every ingest run ---------------------------------------------------------


def _quarantine_ages(db_path: Path) -> dict[str, datetime]:
    con = db.connect(db_path, read_only=True)
    try:
        rows = con.execute("SELECT source, quarantined_at FROM quarantine").fetchall()
    finally:
        con.close()
    return {str(source).rsplit(":", 1)[1]: when for source, when in rows}


def test_quarantine_past_its_period_goes_at_the_next_ingest_run(tmp_path: Path) -> None:
    db_path = tmp_path / "s.duckdb"
    bad = tmp_path / "bad" / "lines.jsonl"
    bad.parent.mkdir()
    bad.write_text("{past\n{inside\n")
    first = importer.import_paths(db_path, [bad])
    assert first.counts.quarantined == 2
    assert set(_quarantine_ages(db_path)) == {"1", "2"}  # the run that made them keeps them

    period = timedelta(seconds=retention.seconds("quarantine"))
    now = datetime.now(UTC).replace(tzinfo=None)
    con = db.connect(db_path)
    try:  # line 1 quarantined just past the period, line 2 an hour inside it
        con.execute(
            "UPDATE quarantine SET quarantined_at = CASE WHEN source LIKE '%:1' THEN ? ELSE ? END",
            [now - period - timedelta(minutes=1), now - period + timedelta(hours=1)],
        )
    finally:
        con.close()

    good = tmp_path / "good" / "one.jsonl"
    good.parent.mkdir()
    good.write_text(json.dumps(wrapper("s_fine")) + "\n")
    second = importer.import_paths(db_path, [good])
    assert second.ok and second.counts.quarantined == 0
    assert set(_quarantine_ages(db_path)) == {"2"}  # the record inside its period stays


# --- nightly reports: the nightly keeps the table's count ----------------------------------


def test_the_nightly_keeps_the_tables_count_of_reports(tmp_path: Path) -> None:
    keep = retention.keep("nightly reports")
    assert nightly.REPORTS_KEEP == keep
    start = datetime(2026, 12, 7, 3, 15, tzinfo=UTC)
    reports = tmp_path / "site.reports"
    for day in range(keep + 3):
        rid = nightly.run_id(start + timedelta(days=day))
        report = nightly.NightlyReport(rid, start.isoformat(), "site", str(reports / f"{rid}.json"))
        nightly.save_report(report, ())  # the default count is the table's
    left = sorted(p.name for p in reports.iterdir())
    assert len(left) == keep
    assert left[0] == nightly.run_id(start + timedelta(days=3)) + ".json"


# --- server logs: the deploy files carry the table's period --------------------------------


def test_logrotate_keeps_nginx_logs_for_the_tables_period() -> None:
    text = (ROOT / "deploy" / "logrotate" / "sorastats-nginx").read_text()
    days = retention.seconds("server logs") // retention.DAY
    directives = {m[0]: m[1] for m in re.findall(r"^\s*(\w+)(?:[ \t]+(\S+))?\s*$", text, re.M)}
    assert "daily" in directives
    # Today's file plus `rotate` older ones, one day each.
    assert int(directives["rotate"]) + 1 == days
    assert int(directives["maxage"]) == days
    assert "/var/log/nginx/*.log {" in text


def test_journald_keeps_the_journal_for_the_tables_period() -> None:
    unit = configparser.ConfigParser(comment_prefixes=("#",))
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # keep the case
    unit.read(ROOT / "deploy" / "journald" / "sorastats.conf")
    journal = unit["Journal"]

    def days(value: str) -> int:
        match = re.fullmatch(r"(\d+)day", value)
        assert match, value
        return int(match[1])

    # A file is deleted once its newest entry is past MaxRetentionSec; a file spans at
    # most MaxFileSec, so no entry is older than their sum.
    total = days(journal["MaxRetentionSec"]) + days(journal["MaxFileSec"])
    assert total * retention.DAY == retention.seconds("server logs")


# --- the privacy page shows the table --------------------------------------------------------


def test_the_privacy_page_shows_the_table_and_no_marker() -> None:
    source = (ROOT / "content" / "privacy.md").read_text(encoding="utf-8")
    assert retention.markdown_table() in source  # tests/test_docs.py: the block is fresh
    pages = {page.url: page for page in load_content(ROOT / "content")}
    html = pages["/privacy/"].html
    assert "generated" not in html and "&lt;!--" not in html
    section = html[html.index("5. How long we keep data") : html.index("6. Security")]
    assert section.count("<tr>") == len(RETENTION) + 1  # the header row, then one per row
    for row in RETENTION:
        assert row.period in section
    assert "maintenance" in section


def test_only_whole_marker_lines_are_dropped(tmp_path: Path) -> None:
    (tmp_path / "p.md").write_text(
        "---\ntitle: T\ndescription: D\n---\n"
        "<!-- generated: retention -->\n| a |\n|---|\n| b |\n<!-- /generated -->\n"
        "text with <!-- generated: x --> inside\n"
    )
    html = load_content(tmp_path)[0].html
    assert '<td data-label="a">b</td>' in html  # labelled for phones (site.md)
    assert "text with &lt;!-- generated: x --&gt; inside" in html  # raw HTML stays off
