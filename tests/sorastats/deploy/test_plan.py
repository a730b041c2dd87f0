"""The deploy's decisions without a bucket: which objects go, in which order, what is
deleted when, what a rollback restores; the manifest's round trip."""

from __future__ import annotations

import pytest

from sorastats import serving
from sorastats.deploy import plan
from sorastats.deploy.bucket import is_aws
from sorastats.deploy.plan import Manifest

H = plan.headers_fingerprint(plan.IDENTITY)


def manifest(deploy_id: str, files: dict[str, str], lingering: tuple[str, ...] = ()) -> Manifest:
    return Manifest(deploy_id, H, dict(files), frozenset(lingering))


SITE = {
    "index.html": "m1",
    "c/alice/index.html": "m2",
    "static/site.3f2a1b9c0d.css": "n",
    "sitemap.xml": "m3",
    "c/alice/feed.xml": "m4",
    "pagefind/pagefind-entry.json": "b5",
    "pagefind/index/en_1a.pf_index": "n",
}

CASES = [
    # name, local, remote, uploads (in order), backups, deletions, lingering
    ("first deploy: everything, assets first, feeds and sitemaps last", SITE, None,
     ["pagefind/index/en_1a.pf_index", "static/site.3f2a1b9c0d.css",
      "pagefind/pagefind-entry.json", "c/alice/index.html", "index.html",
      "c/alice/feed.xml", "sitemap.xml"], [], [], []),
    ("no change: nothing", SITE, manifest("a", SITE), [], [], [], []),
    ("one page changed: that page, its old bytes saved",
     {**SITE, "index.html": "m9"}, manifest("a", SITE), ["index.html"], ["index.html"], [], []),
    ("new asset and pages that use it",
     {**{k: v for k, v in SITE.items() if not k.startswith("static/")},
      "static/site.0000000000.css": "n", "index.html": "m9"},
     manifest("a", SITE), ["static/site.0000000000.css", "index.html"], ["index.html"], [],
     ["static/site.3f2a1b9c0d.css"]),
    ("a removed page lingers one deploy",
     {k: v for k, v in SITE.items() if k != "c/alice/index.html"}, manifest("a", SITE),
     [], [], [], ["c/alice/index.html"]),
    ("... and is deleted by the next",
     {k: v for k, v in SITE.items() if k != "c/alice/index.html"},
     manifest("b", {k: v for k, v in SITE.items() if k != "c/alice/index.html"},
              ("c/alice/index.html",)), [], [], ["c/alice/index.html"], []),
    ("a lingering page that comes back is uploaded, not deleted, not backed up", SITE,
     manifest("b", {k: v for k, v in SITE.items() if k != "c/alice/index.html"},
              ("c/alice/index.html",)), ["c/alice/index.html"], [], [], []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("local", "remote", "uploads", "backups", "deletions", "lingering"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_plan_deploy(
    local: dict[str, str],
    remote: Manifest | None,
    uploads: list[str],
    backups: list[str],
    deletions: list[str],
    lingering: list[str],
) -> None:
    todo = plan.plan_deploy(local, remote, H)
    assert [u.rel for u in todo.uploads] == uploads
    assert [u.rel for u in todo.uploads if u.backup] == backups
    assert list(todo.deletions) == deletions
    assert sorted(todo.lingering) == lingering
    assert todo.unchanged == len(local) - len(uploads)
    assert todo.nothing_to_do == (not uploads and not deletions)


def test_phases_never_go_backwards() -> None:
    todo = plan.plan_deploy(SITE, None, H)
    phases = [u.phase for u in todo.uploads]
    assert phases == sorted(phases)
    assert all(p < serving.MANIFEST_PHASE for p in phases)


def test_new_headers_send_everything_again() -> None:
    todo = plan.plan_deploy(SITE, manifest("a", SITE), plan.headers_fingerprint(plan.GZIP))
    assert len(todo.uploads) == len(SITE)
    assert all(u.backup for u in todo.uploads)


def test_rollback_restores_what_changed_and_keeps_what_is_new_one_deploy() -> None:
    previous = Manifest(
        "a", H, {**SITE, "c/old/index.html": "m7"}, redirects={"c/old/index.html": "/c/new/"}
    )
    current = manifest(
        "b",
        {**SITE, "index.html": "m9", "c/old/index.html": "m8", "p/new/index.html": "m6"},
        ("c/alice/index.html",),
    )
    todo = plan.plan_rollback(current, previous)
    assert [(r.rel, r.redirect) for r in todo.restores] == [
        ("c/old/index.html", "/c/new/"),
        ("index.html", ""),
    ]
    assert todo.backups == ("c/old/index.html", "index.html")
    assert todo.manifest.id == "a"
    assert todo.manifest.files == previous.files
    assert todo.manifest.redirects == previous.redirects
    assert todo.manifest.lingering == {"p/new/index.html"}


def test_manifest_round_trip() -> None:
    m = Manifest(
        "20261207T000000Z-abc",
        H,
        {"a.html": "m1", "c/x/index.html": "m2", "lingering": "h3"},
        frozenset({"gone.html"}),
        {"c/x/index.html": "/c/y/"},
    )
    assert plan.load(plan.dump(m)) == m


@pytest.mark.parametrize("blob", [b"", b"not gzip", plan.dump(manifest("a", {}))[:10]])
def test_unreadable_manifest_is_a_clear_error(blob: bytes) -> None:
    with pytest.raises(plan.ManifestError, match="unreadable deploy manifest"):
        plan.load(blob)


@pytest.mark.parametrize(
    ("endpoint", "aws"),
    [(None, True), ("https://s3.eu-west-1.amazonaws.com", True),
     ("https://acct.r2.cloudflarestorage.com", False), ("http://127.0.0.1:9000", False),
     ("https://amazonaws.com.evil.example", False)],
)  # fmt: skip
def test_website_redirects_by_default_only_on_aws(endpoint: str | None, aws: bool) -> None:
    assert is_aws(endpoint) is aws


@pytest.mark.parametrize(
    ("rel", "deployed"),
    [("index.html", True), ("index.html.gz", False), ("a/b.js.br", False), (".manifest", False),
     ("c/.index.html.123.tmp", False), ("pagefind/wasm.en.pagefind", True)],
)  # fmt: skip
def test_what_is_an_object(rel: str, deployed: bool) -> None:
    assert plan.is_deployed(rel) is deployed


@pytest.mark.parametrize(
    ("body", "target"),
    [
        (b'<meta http-equiv="refresh" content="0; url=/c/bob/">', "/c/bob/"),
        (b"<p>no refresh</p>", ""),
        (b"x" * 3000 + b'<meta http-equiv="refresh" content="0; url=/late/">', ""),
    ],
)
def test_redirect_target(body: bytes, target: str) -> None:
    assert plan.redirect_target(body) == target
