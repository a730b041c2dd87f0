# ruff: noqa: E501  (the expected records read better one a line)
"""templates/static/js/sora-import.js in Debian's chromium: one table per format, built
from the anonymised sample files of tests/fixtures/sora_import/, plus ZIP archives of
them (deflated and stored), files of no known format, broken lines and damaged ZIPs, and
the matching that makes a second import add nothing."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.support.browser import serve_files
from tests.support.paths import ROOT

pytestmark = pytest.mark.browser

SAMPLES = ROOT / "tests" / "fixtures" / "sora_import"
PAGE_DIR = ROOT / "tests" / "support" / "sora_import_page"
JS = "text/javascript; charset=utf-8"
KEYS = (
    "source",
    "kind",
    "postId",
    "generationId",
    "prompt",
    "caption",
    "title",
    "date",
    "width",
    "height",
    "duration",
)
SUPPORTED = "Supported: a SoraVault archive (manifest.json), sora-creator-tools records (JSON or JSONL), a Sora API capture (JSON or JSONL), or a ZIP of these."

# file -> (format, records as KEYS tuples, skipped reasons, broken lines)
TABLE: dict[str, tuple[str, list[tuple[Any, ...]], dict[str, int], int]] = {
    "soravault-manifest.json": (
        "soravault",
        [
            (
                "soravault",
                "published",
                "s_0000000000000000000000000000aa01",
                "gen_01sample0vault0post0000001",
                "A paper lantern drifting over a flooded rice terrace at blue hour, slow dolly",
                "lantern season is here",
                "",
                "2026-03-02T09:15:00Z",
                352,
                640,
                10,
            ),
            (
                "soravault",
                "draft",
                "",
                "gen_01sample0vault0draft000002",
                "Macro shot of frost ferns growing across a window pane, time-lapse",
                "",
                "",
                "2026-03-03T11:00:00Z",
                640,
                640,
                5,
            ),
        ],
        {"someone else's post": 1, "no prompt text": 1},
        0,
    ),
    "creator-tools.jsonl": (
        "creator-tools",
        [
            (
                "creator-tools",
                "published",
                "s_0000000000000000000000000000cc01",
                "gen_01sample0tools0post0000001",
                "An origami crane unfolding into a map of a coastal town, top-down",
                "folded a whole town",
                "Crane map",
                "2026-02-10T15:30:00Z",
                640,
                352,
                8,
            ),
            (
                "creator-tools",
                "draft",
                "",
                "gen_01sample0tools0draft000002",
                "Rain on a tin roof seen from inside, warm lamp light, handheld",
                "",
                "",
                "2026-02-11T09:00:00Z",
                352,
                640,
                10,
            ),
            # No prompt: the caption as posted stands in for it (it is what was shown).
            (
                "creator-tools",
                "published",
                "s_0000000000000000000000000000cc05",
                "gen_01sample0tools0post0000005",
                "a caption standing in for a hidden prompt",
                "",
                "",
                "2026-02-13T11:00:00Z",
                352,
                640,
                15,
            ),
        ],
        {"no prompt text": 1},
        1,
    ),
    "creator-tools-array.json": (
        "creator-tools",
        [
            (
                "creator-tools",
                "draft",
                "",
                "gen_01sample0tools0array000001",
                "A brass diving bell descending past glowing jellyfish",
                "",
                "Diving bell",
                "2026-01-05T10:00:00Z",
                1920,
                1080,
                20,
            ),
            (
                "creator-tools",
                "published",
                "s_0000000000000000000000000000dd02",
                "gen_01sample0tools0array000002",
                "Chalk drawings on a sidewalk coming alive in the rain",
                "",
                "",
                "2026-01-06T12:00:00Z",
                352,
                640,
                10,
            ),
        ],
        {},
        0,
    ),
    "sora-api-drafts.json": (
        "sora-api",
        [
            (
                "sora-api",
                "draft",
                "",
                "gen_01sample0api0draft00000001",
                "A snow globe city where the snow falls upward, dreamy",
                "",
                "",
                "2026-01-01T10:00:00Z",
                352,
                640,
                10,
            ),
            (
                "sora-api",
                "draft",
                "",
                "gen_01sample0api0draft00000002",
                "Lighthouse beam sweeping over a sea of clouds",
                "",
                "",
                "2026-01-02T10:00:00Z",
                640,
                352,
                5,
            ),
        ],
        {"no prompt text": 1},
        0,
    ),
    "sora-api-profile.jsonl": (
        "sora-api",
        [
            (
                "sora-api",
                "published",
                "s_0000000000000000000000000000ee01",
                "gen_01sample0api0post000000001",
                "A tiny robot watering bonsai trees on a windowsill, soft morning light",
                "my tiny robot gardener",
                "",
                "2026-01-03T10:00:00Z",
                352,
                640,
                15,
            ),
            (
                "sora-api",
                "published",
                "s_0000000000000000000000000000ee02",
                "gen_01sample0api0post000000002",
                "Aerial shot over a city made only of bridges, golden hour",
                "city of bridges",
                "",
                "2026-01-04T10:00:00Z",
                640,
                352,
                10,
            ),
        ],
        {},
        1,
    ),
}


def as_file(name: str, data: bytes) -> dict[str, str]:
    return {"name": name, "base64": base64.b64encode(data).decode("ascii")}


def sample(name: str) -> dict[str, str]:
    return as_file(name, (SAMPLES / name).read_bytes())


def zipped(names: list[str], stored: frozenset[str] = frozenset()) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("backup/", b"")
        archive.writestr("backup/README.txt", b"not a JSON file: left alone")
        for name in names:
            method = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            archive.write(SAMPLES / name, f"backup/{name}", compress_type=method)
    return out.getvalue()


@pytest.fixture(scope="module")
def page(chromium: Browser) -> Iterator[Page]:
    routes = {
        "/": (PAGE_DIR / "index.html", "text/html; charset=utf-8"),
        "/harness.js": (PAGE_DIR / "harness.js", JS),
        "/static/js/sora-import.js": (ROOT / "templates/static/js/sora-import.js", JS),
    }
    with serve_files(routes) as origin:
        context = chromium.new_context()
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto(origin + "/")
        tab.wait_for_function("window.harnessReady === true")
        yield tab
        context.close()
        assert errors == []


def read(page: Page, *files: dict[str, str]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate(
        "(files) => window.harness.read(files)", list(files)
    )
    return result


def rows(found: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(r[k] for k in KEYS) for r in found["records"]]


@pytest.mark.parametrize("name", sorted(TABLE))
def test_each_format(page: Page, name: str) -> None:
    (found,) = read(page, sample(name))
    fmt, records, skipped, broken = TABLE[name]
    assert (found["format"], found["error"]) == (fmt, None)
    assert rows(found) == records
    assert found["skipped"] == skipped and found["brokenLines"] == broken
    assert all(r["file"] == name for r in found["records"])


def test_zip_of_every_format(page: Page) -> None:
    names = sorted(TABLE)
    data = zipped(names, stored=frozenset({"creator-tools.jsonl"}))
    found = read(page, as_file("sora-backup.zip", data))
    assert [f["file"] for f in found] == [f"sora-backup.zip/backup/{n}" for n in names]
    for name, one in zip(names, found, strict=True):
        assert one["format"] == TABLE[name][0] and rows(one) == TABLE[name][1]
        assert one["brokenLines"] == TABLE[name][3]


def test_unknown_formats_and_unreadable_files(page: Page) -> None:
    cases = [
        sample("unknown-format.json"),
        as_file("empty.json", b""),
        as_file("list.json", b"[1, 2, 3]"),
        as_file("notes.txt", b"just words, not JSON\nat all"),
        as_file("drafts.jsonl", b'{"kind": "draft"}\n{"x": 1}\n'),
    ]
    for found in read(page, *cases):
        assert found["format"] is None and found["records"] == []
        assert found["error"] == f"{found['file']}: not a format this page reads. {SUPPORTED}"
    damaged = bytearray(zipped(["creator-tools.jsonl"]))
    damaged[-22:] = b"\0" * 22  # no end-of-directory record
    truncated = zipped(["sora-api-drafts.json"])[:200] + zipped(["sora-api-drafts.json"])[-22:]
    errors = read(page, as_file("damaged.zip", bytes(damaged)), as_file("cut.zip", truncated))
    assert (
        errors[0]["readError"] == "damaged.zip: not a readable ZIP archive (no central directory)."
    )
    assert errors[1]["readError"].startswith("cut.zip: not a readable ZIP archive (")
    # A ZIP without JSON inside has no documents (the page says so).
    assert read(page, as_file("readme-only.zip", zipped([]))) == []


def test_a_file_of_broken_lines_only_counts_them(page: Page) -> None:
    (found,) = read(
        page,
        as_file("broken.jsonl", b'{"kind": "draft", "prompt": "ok", "id": "gen_1"}\n{oops\n[\n'),
    )
    assert found["format"] == "creator-tools" and found["brokenLines"] == 2
    assert [r["prompt"] for r in found["records"]] == ["ok"]


def test_long_prompts_and_vault_fields(page: Page) -> None:
    long = "word " * 7000  # 35,000 bytes: more than the vault's 30,000
    record = {
        "id": "gen_long",
        "kind": "draft",
        "prompt": long.strip(),
        "generation_id": "gen_long",
    }
    caption = {
        "id": "s_cap",
        "kind": "published",
        "prompt": "short",
        "caption": "c" * 40_000,
        "generation_id": "gen_c",
        "title": "t" * 300,
    }
    lines = "\n".join(json.dumps(r) for r in (record, caption)).encode()
    (found,) = read(page, as_file("long.jsonl", lines))
    assert found["skipped"] == {"a prompt longer than 30,000 bytes": 1}
    (kept,) = found["records"]
    fields = page.evaluate("(r) => window.harness.si.vaultFields(r)", kept)
    assert len(fields["title"]) == 200 and fields["title"].endswith("…")
    assert len(fields["notes"].encode()) <= 30_000
    assert "Generation: gen_c\nPost: s_cap" in fields["notes"]
    assert fields["notes"].startswith("Imported from Sora (sora-creator-tools records, published)")


def test_plan_matches_ids_then_text(page: Page) -> None:
    found = read(page, *(sample(n) for n in sorted(TABLE)))
    records = [r for f in found for r in f["records"]]
    existing = [
        {"postId": "s_0000000000000000000000000000aa01", "notes": "", "body": "edited since"},
        {"postId": None, "notes": "Generation: gen_01sample0tools0draft000002\n", "body": "x"},
        {"postId": None, "notes": "", "body": "  lighthouse beam sweeping over a   SEA of clouds "},
    ]
    # The same prompt twice in the files (a second generation of one draft) counts once.
    twin = {**records[1], "generationId": "gen_twin", "file": "twin.json"}
    plan = page.evaluate(
        "([records, existing]) => window.harness.si.plan(records, existing)",
        [[*records, twin], existing],
    )
    in_vault = {r["generationId"] for r in plan["inVault"]}
    assert in_vault == {
        "gen_01sample0vault0post0000001",
        "gen_01sample0tools0draft000002",
        "gen_01sample0api0draft00000002",
    }
    assert [r["generationId"] for r in plan["repeated"]] == ["gen_twin"]
    assert len(plan["fresh"]) == len(records) - 3
    # What an import writes is recognised by the next one: nothing is fresh twice.
    written = page.evaluate(
        "(records) => records.map((r) => ({postId: r.postId || null, ...window.harness.si.vaultFields(r)}))",
        records,
    )
    again = page.evaluate(
        "([records, existing]) => window.harness.si.plan(records, existing)", [records, written]
    )
    assert again["fresh"] == [] and len(again["inVault"]) == len(records)


def test_the_vault_index_holds_ids_and_fingerprints_not_texts(page: Page) -> None:
    """What the page keeps of the vault to match against (built in the import's workers)
    is ids and text fingerprints; planning against it is planning against the prompts."""
    found = read(page, *(sample(n) for n in sorted(TABLE)))
    records = [r for f in found for r in f["records"]]
    existing = [
        {"postId": "s_0000000000000000000000000000aa01", "notes": "", "body": "edited since"},
        {"postId": None, "notes": "Generation: gen_01sample0tools0draft000002\n", "body": "x"},
        {"postId": None, "notes": "", "body": "  lighthouse beam sweeping over a   SEA of clouds "},
        {"postId": None, "notes": "Post: s_notes\n"},  # notes only: no text to match
    ]
    index = page.evaluate("(existing) => window.harness.si.indexOf(existing)", existing)
    assert index["generations"] == ["gen_01sample0tools0draft000002"]
    assert index["posts"] == ["s_0000000000000000000000000000aa01", "s_notes"]
    assert len(index["texts"]) == 3
    assert not any("lighthouse" in t or "edited" in t for t in index["texts"])
    by_index, by_prompts = page.evaluate(
        """([records, existing, index]) => [window.harness.si.plan(records, index),
                                            window.harness.si.plan(records, existing)]""",
        [records, existing, index],
    )
    assert by_index == by_prompts and len(by_index["inVault"]) == 3
    # The fingerprint ignores spaces and case like the matching does, and tells texts apart.
    hashes = page.evaluate(
        """() => ["A  fox in snow", " a fox IN snow ", "a fox in snow.", "a fox in snoW!"]
                 .map(window.harness.si.textHash)"""
    )
    assert hashes[0] == hashes[1] and len(set(hashes)) == 3
    many = page.evaluate(
        "() => new Set(Array.from({length: 20000}, (_, n) => window.harness.si.textHash(`prompt ${n}`))).size"
    )
    assert many == 20_000


def test_samples_are_anonymised() -> None:
    """The samples are written by hand: no real ids, names or signed links."""
    for path in Path(SAMPLES).iterdir():
        text = path.read_text("utf-8")
        assert "sig=" not in text and "openai.com" not in text.replace("sora.chatgpt.com/p/", "")
