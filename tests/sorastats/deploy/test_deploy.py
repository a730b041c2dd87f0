"""`build.py deploy` against moto's S3 server, a real HTTP server in its own process on
127.0.0.1 (tests/support/s3_server.py): headers, no-change, small changes, the grace before
deletion, rollback, a deploy killed half-way, and the errors an operator can meet."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from types_boto3_s3.client import S3Client

from sorastats import cli, db, serving
from sorastats.deploy import plan
from sorastats.deploy.bucket import Target
from sorastats.deploy.deploy import DeployOptions, deploy, rollback
from sorastats.site.builder import render_site
from sorastats.site.config import RenderConfig
from sorastats.site.manifest import MANIFEST_HEADER, read_manifest
from tests.support import sitedata
from tests.support.paths import ROOT
from tests.support.s3_server import S3Server, moto_server
from tests.support.threaded_server import free_port
from tests.support.webhook import webhook_receiver

pytestmark = pytest.mark.e2e  # a server in a subprocess

_BUCKETS = count()
EXTRA = "google0123456789.html"  # a file of the tree outside the build manifest


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with moto_server() as server:
        yield server


@pytest.fixture
def env(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return s3


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-made site (a renamed creator's redirect page included), built once."""
    tmp = tmp_path_factory.mktemp("deploy-site")
    dbp = sitedata.hand_made(tmp / "h.duckdb")
    cfg = RenderConfig(db=dbp, out=tmp / "site", base_url="https://x.example", jobs=1, search=False)
    render_site(cfg, log=lambda _m: None)
    (tmp / "site" / EXTRA).write_text("google-site-verification: google0123456789.html\n")
    return tmp / "site"


@pytest.fixture
def full_site(built: Path, tmp_path: Path) -> Path:
    shutil.copytree(built, tmp_path / "site")
    return tmp_path / "site"


# moto spends milliseconds of CPU on each request: most tests deploy a few pages of the
# site (with every asset they refer to), not all of them.
KEEP = re.compile(
    r"(index|about/index|terms/index|c/(alice|old_bob)/index)\.html|static/.*|feed\.xml"
    r"|sitemap\.xml|robots\.txt|" + re.escape(EXTRA)
)


@pytest.fixture
def site(full_site: Path) -> Path:
    manifest = read_manifest(full_site)
    assert manifest is not None
    for path in [p for p in full_site.rglob("*") if p.is_file()]:
        rel = str(path.relative_to(full_site))
        if rel != ".manifest" and not KEEP.fullmatch(rel.removesuffix(".gz").removesuffix(".br")):
            path.unlink()
    kept = [f"{rel}\t{digest}" for rel, digest in manifest.items() if KEEP.fullmatch(rel)]
    (full_site / ".manifest").write_text("\n".join([MANIFEST_HEADER, *kept]) + "\n")
    return full_site


@pytest.fixture
def bucket(env: S3Server) -> str:
    name = f"site-{next(_BUCKETS)}-{os.getpid()}"
    client(env).create_bucket(Bucket=name)
    return name


@functools.cache
def client(s3: S3Server) -> S3Client:
    """The tests' own client (made once: a boto3 client costs about 0.1 s of CPU)."""
    return s3.client()


def opts(site: Path, bucket: str, s3: S3Server, **kw: Any) -> DeployOptions:
    """moto stands in for AWS S3 here: website redirects on, as `auto` does for AWS."""
    return DeployOptions(
        out=site, target=Target(bucket, "www/"), endpoint_url=s3.url, website_redirects=True, **kw
    )


def listing(s3: S3Server, bucket: str, prefix: str) -> dict[str, str]:
    """The objects under `prefix`, by name relative to it, with their MD5 (the ETag of an
    object sent in one PUT): one request per 1,000 objects, not one per object."""
    pages = client(s3).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {
        o["Key"][len(prefix) :]: o["ETag"].strip('"')
        for page in pages
        for o in page.get("Contents", [])
    }


def objects(s3: S3Server, bucket: str) -> dict[str, str]:
    """Every object of the site in the bucket (bookkeeping aside), with its MD5."""
    return {k: v for k, v in listing(s3, bucket, "www/").items() if not k.startswith(plan.RESERVED)}


def body(s3: S3Server, bucket: str, rel: str) -> bytes:
    return client(s3).get_object(Bucket=bucket, Key="www/" + rel)["Body"].read()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def local(site: Path) -> dict[str, str]:
    return {rel: md5((site / rel).read_bytes()) for rel in deployable(site)}


def deployable(site: Path) -> set[str]:
    return {
        str(p.relative_to(site))
        for p in site.rglob("*")
        if p.is_file() and plan.is_deployed(str(p.relative_to(site)))
    }


def change_page(site: Path, rel: str, text: str) -> None:
    """What a render does to a page whose inputs changed: new bytes, new manifest hash."""
    (site / rel).write_text(text)
    manifest = site / ".manifest"
    lines = manifest.read_text().split("\n")
    manifest.write_text(
        "\n".join(
            f"{rel}\t{line.split(chr(9))[1]}x" if line.startswith(rel + "\t") else line
            for line in lines
        )
    )


def remove_page(site: Path, rel: str) -> None:
    (site / rel).unlink()
    manifest = site / ".manifest"
    kept = [ln for ln in manifest.read_text().split("\n") if not ln.startswith(rel + "\t")]
    manifest.write_text("\n".join(kept))


def test_first_deploy_then_no_change(full_site: Path, bucket: str, env: S3Server) -> None:
    site = full_site
    first = deploy(opts(site, bucket, env))
    stored = objects(env, bucket)
    assert set(stored) == deployable(site)
    assert first.uploaded == len(stored) and first.skipped == 0
    assert not any(serving.is_sibling(rel) for rel in stored)
    assert stored == local(site)
    c = client(env)
    css = next(rel for rel in stored if re.fullmatch(r"static/site\.[0-9a-f]{10}\.css", rel))
    expected = {
        "index.html": ("text/html; charset=utf-8", serving.PAGE),
        css: ("text/css; charset=utf-8", serving.IMMUTABLE),
        "feed.xml": ("application/atom+xml; charset=utf-8", serving.FEED),
        "sitemap.xml": ("application/xml; charset=utf-8", serving.FEED),
        "robots.txt": ("text/plain; charset=utf-8", serving.FEED),
        EXTRA: ("text/html; charset=utf-8", serving.PAGE),
    }
    for rel, (ctype, cache) in expected.items():
        head = c.head_object(Bucket=bucket, Key="www/" + rel)
        assert (head["ContentType"], head["CacheControl"]) == (ctype, cache), rel
        assert "ContentEncoding" not in head
        assert "WebsiteRedirectLocation" not in head
    # bob was old_bob: his old page keeps its meta refresh and gets the store's redirect.
    old = c.head_object(Bucket=bucket, Key="www/c/old_bob/index.html")
    assert old["WebsiteRedirectLocation"] == "/c/bob/"
    assert b'url=/c/bob/"' in body(env, bucket, "c/old_bob/index.html")

    second = deploy(opts(site, bucket, env))
    assert (second.uploaded, second.deleted, second.skipped) == (0, 0, first.uploaded)
    # Counted by the client's request hook: one GET of the manifest, no listing, no PUT.
    assert second.requests == {"GetObject": 1}


def test_small_change_uploads_only_what_changed(site: Path, bucket: str, env: S3Server) -> None:
    deploy(opts(site, bucket, env))
    change_page(site, "about/index.html", "<p>new about</p>")
    (site / EXTRA).write_text("changed\n")  # outside the build manifest: content-hashed
    result = deploy(opts(site, bucket, env))
    assert sorted(result.uploaded_paths) == ["about/index.html", EXTRA]
    assert result.backed_up == 2
    assert objects(env, bucket)["about/index.html"] == md5(b"<p>new about</p>")
    assert "ListObjectsV2" in result.requests  # this deploy's backup folder only


def test_removed_page_disappears_one_deploy_later(site: Path, bucket: str, env: S3Server) -> None:
    first = deploy(opts(site, bucket, env))
    remove_page(site, "terms/index.html")
    change_page(site, "index.html", "<p>home, without terms</p>")
    kept = deploy(opts(site, bucket, env))
    assert kept.deleted == 0 and "terms/index.html" in objects(env, bucket)
    backups = listing(env, bucket, f"www/{plan.BACKUPS}")
    assert set(backups) == {f"{first.deploy_id}/index.html"}  # for a rollback to `first`
    gone = deploy(opts(site, bucket, env))
    assert gone.deleted_paths == ["terms/index.html"] and gone.uploaded == 0
    assert "terms/index.html" not in objects(env, bucket)
    assert set(objects(env, bucket)) == deployable(site)
    # A rollback now goes back to `kept`, which `gone` overwrote nothing of: none is kept.
    assert listing(env, bucket, f"www/{plan.BACKUPS}") == {}


def test_rollback_and_its_undo(site: Path, bucket: str, env: S3Server) -> None:
    deploy(opts(site, bucket, env))
    before = objects(env, bucket)
    change_page(site, "index.html", "<p>v2</p>")
    change_page(site, "c/old_bob/index.html", "<p>no longer a redirect</p>")
    (site / "new.html").write_text("<p>new</p>")
    deploy(opts(site, bucket, env))
    after = objects(env, bucket)

    dry = rollback(opts(site, bucket, env, dry_run=True))
    assert sorted(dry.uploaded_paths) == ["c/old_bob/index.html", "index.html"]
    assert objects(env, bucket) == after

    back = rollback(opts(site, bucket, env))
    assert back.restored == 2
    now = objects(env, bucket)
    assert {k: v for k, v in now.items() if k != "new.html"} == before
    assert "new.html" in now  # new in the rolled-back deploy: one deploy of grace
    head = client(env).head_object(Bucket=bucket, Key="www/c/old_bob/index.html")
    assert head["WebsiteRedirectLocation"] == "/c/bob/"
    assert head["ContentType"] == "text/html; charset=utf-8"

    rollback(opts(site, bucket, env))  # undo: the second deploy again
    assert objects(env, bucket) == after
    # The local tree is still the second deploy's: nothing to send.
    assert deploy(opts(site, bucket, env)).uploaded == 0


def test_dry_run_changes_nothing(site: Path, bucket: str, env: S3Server) -> None:
    dry = deploy(opts(site, bucket, env, dry_run=True))
    assert set(dry.uploaded_paths) == deployable(site)
    assert objects(env, bucket) == {}
    assert client(env).list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert set(dry.requests) == {"GetObject"}


def test_gzip_stores_the_precompressed_bytes(site: Path, bucket: str, env: S3Server) -> None:
    deploy(opts(site, bucket, env, encoding=plan.GZIP))
    head = client(env).head_object(Bucket=bucket, Key="www/index.html")
    assert head["ContentEncoding"] == "gzip"
    assert objects(env, bucket)["index.html"] == md5((site / "index.html.gz").read_bytes())
    # Back to identity: every object again (its headers change).
    again = deploy(opts(site, bucket, env))
    assert again.uploaded == len(deployable(site))


def _pages_refer_to_stored_assets(s3: S3Server, bucket: str) -> None:
    stored = objects(s3, bucket)
    for rel in stored:
        if rel.endswith(".html"):
            for asset in re.findall(rb'"/(static/[^"]+)"', body(s3, bucket, rel)):
                assert asset.decode() in stored, f"{rel} refers to missing {asset.decode()}"


def _restyle(site: Path) -> tuple[str, str]:
    """What a changed stylesheet does to a build: a new fingerprinted name, every page
    rewritten to use it, the old file gone."""
    old = next(p for p in (site / "static").glob("site.*.css"))
    new = old.with_name("site.0123456789.css")
    old.rename(new)
    manifest = read_manifest(site)
    assert manifest is not None
    lines = [MANIFEST_HEADER]
    for rel, digest in manifest.items():
        if rel.endswith(".html"):
            body = (site / rel).read_bytes().replace(old.name.encode(), new.name.encode())
            (site / rel).write_bytes(body)
            digest += "x"
        lines.append(f"{rel}\t{digest}")
    (site / ".manifest").write_text("\n".join(lines) + "\n")
    return old.name, new.name


@pytest.mark.slow
def test_killed_deploy_leaves_a_consistent_site_and_the_next_completes_it(
    site: Path, bucket: str, env: S3Server, tmp_path: Path
) -> None:
    for n in range(60):  # enough objects that the kill lands half-way
        (site / "extra" / f"{n}.txt").parent.mkdir(exist_ok=True)
        (site / "extra" / f"{n}.txt").write_text(f"extra {n}\n")
    first = deploy(opts(site, bucket, env))
    original = objects(env, bucket)
    for n in range(60):
        (site / "extra" / f"{n}.txt").write_text(f"extra {n}, second version\n")
    _restyle(site)

    argv = [sys.executable, str(ROOT / "build.py"), "deploy", "--out", str(site),
            "--to", f"s3://{bucket}/www", "--endpoint-url", env.url,
            "--website-redirects", "on"]  # fmt: skip
    proc = subprocess.Popen(argv, env={**os.environ, **env.env()}, stdout=subprocess.DEVNULL)
    backups = f"www/{plan.BACKUPS}{first.deploy_id}/"

    def overwritten() -> int:
        stored = objects(env, bucket)
        return sum(1 for rel, etag in original.items() if stored.get(rel, etag) != etag)

    deadline = time.monotonic() + 60
    while overwritten() < 5:  # killed once some objects of the first deploy are replaced
        assert proc.poll() is None, "the deploy ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    assert objects(env, bucket) != local(site)  # half-way: not everything was sent
    _pages_refer_to_stored_assets(env, bucket)
    with pytest.raises(Exception, match="did not finish"):
        rollback(opts(site, bucket, env))

    done = deploy(opts(site, bucket, env))
    assert done.uploaded > 0
    final = objects(env, bucket)
    assert {k: v for k, v in final.items() if k in deployable(site)} == local(site)
    _pages_refer_to_stored_assets(env, bucket)
    # Every saved backup holds the first deploy's bytes, never the killed deploy's.
    saved = listing(env, bucket, backups)
    assert all(original[rel] == etag for rel, etag in saved.items())
    assert {rel for rel, etag in original.items() if final.get(rel, etag) != etag} <= set(saved)
    rollback(opts(site, bucket, env))
    assert {k: v for k, v in objects(env, bucket).items() if k in original} == original


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err


def test_cli_deploy_and_dry_run(
    site: Path, bucket: str, env: S3Server, capsys: pytest.CaptureFixture[str]
) -> None:
    to = ["--out", str(site), "--to", f"s3://{bucket}/www", "--endpoint-url", env.url]
    assert cli.main(["deploy", "--dry-run", "-v", *to]) == 0
    out = capsys.readouterr().out
    assert "upload index.html" in out and "would upload" in out and "dry run" in out
    assert objects(env, bucket) == {}
    assert cli.main(["deploy", *to]) == 0
    out = capsys.readouterr().out
    assert f"deploy: upload {len(deployable(site)):,} objects" in out
    assert env.secret_key not in out
    # `auto` sets S3's website redirect only on AWS: not on this endpoint.
    head = client(env).head_object(Bucket=bucket, Key="www/c/old_bob/index.html")
    assert "WebsiteRedirectLocation" not in head
    # `on` changes the headers' fingerprint: every object goes again, the redirect with it.
    assert cli.main(["deploy", "--website-redirects", "on", *to]) == 0
    head = client(env).head_object(Bucket=bucket, Key="www/c/old_bob/index.html")
    assert head["WebsiteRedirectLocation"] == "/c/bob/"


@pytest.mark.parametrize("case", ["credentials", "unreachable", "bucket", "no site", "rollback"])
def test_errors_are_one_line_and_exit_1(
    case: str,
    site: Path,
    bucket: str,
    env: S3Server,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, target, out, extra = env.url, f"s3://{bucket}/www", site, []
    if case == "credentials":
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-do-not-print")
    elif case == "unreachable":
        url = f"http://127.0.0.1:{free_port()}"
    elif case == "bucket":
        target = "s3://no-such-bucket-here/www"
    elif case == "no site":
        out = site.with_name("nothing")
    else:
        extra = ["--rollback"]
    code, err = run_cli(["deploy", "--out", str(out), "--to", target, "--endpoint-url", url,
                         *extra], capsys)  # fmt: skip
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert lines[0].startswith("deploy: error: ")
    assert "Traceback" not in err and "wrong-secret" not in err
    expected = {
        "credentials": "credentials were refused",
        "unreachable": "cannot connect to http://127.0.0.1",
        "bucket": "no such bucket",
        "no site": "no site built",
        "rollback": "no previous deploy",
    }[case]
    assert expected in lines[0]


def test_bad_target_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["deploy", "--to", "https://bucket/x"])
    assert exit_.value.code == 2
    assert "s3://BUCKET[/PREFIX]" in capsys.readouterr().err


def test_nightly_deploys_after_the_check_and_a_failed_deploy_alerts_and_changes_nothing(
    tmp_path: Path,
    bucket: str,
    env: S3Server,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key in ("SORASTATS_SOURCES", "SORASTATS_ALERT_ON", "SORA_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SORASTATS_ALERT_BACKOFF_S", "0")
    dbp, out = sitedata.hand_made(tmp_path / "h.duckdb"), tmp_path / "site"
    argv = ["nightly", "--db", str(dbp), "--out", str(out), "--base-url", "https://x.example",
            "--jobs", "1", "--no-search", "--deploy", f"s3://{bucket}/www",
            "--endpoint-url", env.url]  # fmt: skip

    def last_report() -> dict[str, Any]:
        newest = sorted((tmp_path / "site.reports").glob("*.json"))[-1]
        report: dict[str, Any] = json.loads(newest.read_text())
        return report

    assert cli.main(argv) == 0
    deployed = objects(env, bucket)
    assert set(deployed) == deployable(out) and deployed == local(out)
    report = last_report()
    assert report["deploy"]["uploaded"] == len(deployed)
    assert report["deploy"]["target"] == f"s3://{bucket}/www/"
    assert cli.main(argv) == 0  # nothing changed: nothing uploaded
    assert last_report()["deploy"] == {**report["deploy"], "uploaded": 0,
                                       "unchanged": len(deployed)}  # fmt: skip

    # The next night's data changes a page, and the deploy is refused: exit 1, an alert,
    # the bucket as it was (the live folder has the new site; the next deploy sends it).
    con = db.connect(dbp)
    con.execute("UPDATE posts SET text = text || ' (edited)' WHERE text IS NOT NULL")
    con.close()
    capsys.readouterr()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-do-not-print")
    with webhook_receiver("/hook") as hook:
        monkeypatch.setenv("SORASTATS_ALERT_WEBHOOK", hook.url)
        assert cli.main(argv) == 1
    assert objects(env, bucket) == deployed
    (alert,) = hook.received
    sent = alert.json()
    assert (sent["status"], sent["failed_step"]) == ("failed", "deploy")
    assert "credentials were refused" in sent["text"]
    out_text, err = capsys.readouterr()
    everything = alert.body.decode() + out_text + err + json.dumps(last_report())
    assert "wrong-secret" not in everything and env.secret_key not in everything
