"""The production layout of deploy/ (docs/deploy.md): nginx run for real against a site
made by the renderer's writer and a running API, the security headers snippet against
sorastats/headers.py, and the systemd units against the command lines they start."""

from __future__ import annotations

import os
import shlex
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from configparser import ConfigParser
from pathlib import Path

import httpx
import pytest

from api.__main__ import build_parser as api_parser
from sorastats import headers, serving
from sorastats.cli import build_parser as build_py_parser
from sorastats.site.writer import write_output
from tests.support.api_server import run_api
from tests.support.paths import ROOT
from tests.support.threaded_server import free_port

DEPLOY = ROOT / "deploy"
NGINX_CONF = DEPLOY / "nginx" / "sorastats.conf"
HEADERS_SNIPPET = DEPLOY / "nginx" / "security-headers.conf"
UNITS = sorted((DEPLOY / "systemd").iterdir())

# One file per rule of the serving table (its example) and per Content-Type.
SITE = {rule.example: f"<p>{rule.name}</p>".encode() for rule in serving.RULES} | {
    "index.html": b"<h1>home</h1>" + b" more" * 200,
    "404.html": b"<h1>lost</h1>",
    "about/index.html": b"<h1>about</h1>",
    "feed.xml": b"<feed/>",
    "sitemap-2.xml": b"<urlset/>",
    "robots.txt": b"User-agent: *",
    "static/app.js": b"let a = 1;" * 30,
    "static/data.json": b"{}",
    "static/icon.svg": b"<svg/>",
    "img/a.png": b"png",
    "img/a.webp": b"webp",
    "wasm.en.wasm": b"\0asm",
    "pagefind/wasm.en.pagefind": b"wasm",
}


def test_security_headers_snippet_is_the_table() -> None:
    assert HEADERS_SNIPPET.read_text() == headers.nginx_headers(), (
        "deploy/nginx/security-headers.conf is stale: regenerate it with the command in "
        "its first lines"
    )


def _self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


def _replace(text: str, old: str, new: str, count: int = 1) -> str:
    assert text.count(old) == count, f"{old!r} is not in {NGINX_CONF.name} {count} time(s)"
    return text.replace(old, new)


class Nginx:
    def __init__(self, https: str, http: str, cafile: Path) -> None:
        self.https, self.http = https, http
        self.tls = ssl.create_default_context(cafile=str(cafile))

    def client(self, **options: object) -> httpx.Client:
        return httpx.Client(base_url=self.https, verify=self.tls, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    if not Path("/usr/sbin/nginx").exists():
        pytest.fail("nginx is not installed: `make test` installs it (.ci/test-deps)")
    tmp = tmp_path_factory.mktemp("nginx")
    site = tmp / "site"
    for rel, data in SITE.items():
        write_output(site, rel, data)
    (site / ".manifest").write_text("bookkeeping")
    cert, key = _self_signed(tmp)
    with run_api(f"sqlite:///{tmp / 'accounts.sqlite3'}", tmp, real_server=True) as api:
        https_port, http_port = free_port(), free_port()
        conf = NGINX_CONF.read_text()
        conf = _replace(conf, "listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
        conf = _replace(conf, "listen 80;", f"listen 127.0.0.1:{http_port};")
        conf = _replace(conf, "listen [::]:443 ssl http2;\n", "")
        conf = _replace(conf, "listen [::]:80;\n", "")
        conf = _replace(conf, "/etc/letsencrypt/live/sorastats.example/fullchain.pem", str(cert))
        conf = _replace(conf, "/etc/letsencrypt/live/sorastats.example/privkey.pem", str(key))
        conf = _replace(conf, "root /srv/sorastats/site;", f"root {site};")
        conf = _replace(conf, "server 127.0.0.1:8000;", f"server {api.base_url[7:]};")
        conf = _replace(
            conf, "/etc/nginx/snippets/sorastats-security-headers.conf", str(HEADERS_SNIPPET), 8
        )
        (tmp / "sorastats.conf").write_text(conf)
        temp = tmp / "temp"
        temp.mkdir()
        user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read tmp_path
        (tmp / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {tmp}/nginx.pid;\n"
            f"error_log {tmp}/error.log warn;\n"
            "load_module /usr/lib/nginx/modules/ngx_http_brotli_static_module.so;\n"
            "events { worker_connections 64; }\n"
            f"http {{\n access_log off;\n client_body_temp_path {temp}/body;\n"
            f" proxy_temp_path {temp}/proxy;\n fastcgi_temp_path {temp}/fastcgi;\n"
            f" uwsgi_temp_path {temp}/uwsgi;\n scgi_temp_path {temp}/scgi;\n"
            f" include {tmp}/sorastats.conf;\n}}\n"
        )
        command = ["/usr/sbin/nginx", "-p", str(tmp), "-c", str(tmp / "nginx.conf")]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
        server = subprocess.Popen(command, stderr=subprocess.DEVNULL)  # error.log has it
        served = Nginx(f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}", cert)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with served.client() as http:
                        http.get("/")
                    break
                except httpx.TransportError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError((tmp / "error.log").read_text()) from None
                    time.sleep(0.02)
            yield served
        finally:
            server.terminate()
            server.wait(timeout=30)


def _assert_site_headers(response: httpx.Response) -> None:
    where = response.request.url.path
    for name, value, _ in headers.headers_for("/", https=True):
        assert response.headers.get_list(name) == [value], (where, name)
    assert "server" not in response.headers or "/" not in response.headers["server"]


@pytest.mark.e2e
@pytest.mark.parametrize("accept", ["br", "gzip", "identity", "gzip, deflate, br"])
def test_nginx_serves_the_site_as_the_table_says(nginx: Nginx, accept: str) -> None:
    expected = {"br": "br", "gzip": "gzip", "identity": None, "gzip, deflate, br": "br"}[accept]
    with nginx.client(headers={"Accept-Encoding": accept}) as http:
        for rel, data in SITE.items():
            path = "/" if rel == "index.html" else f"/{rel}"
            response = http.get(path)
            where = (accept, path)
            assert response.status_code == 200, where
            assert response.content == data, where  # decoded: the plain file
            assert response.headers["cache-control"] == serving.cache_control(rel), where
            assert response.headers["content-type"] == serving.content_type(rel), where
            compressible = serving.is_compressible(rel)
            encoding = expected if compressible else None
            assert response.headers.get("content-encoding") == encoding, where
            if compressible:
                assert response.headers["vary"] == "Accept-Encoding", where
            _assert_site_headers(response)


@pytest.mark.e2e
def test_nginx_paths_404s_and_redirects(nginx: Nginx) -> None:
    with nginx.client(headers={"Accept-Encoding": "br"}) as http:
        for path in ("/nope/", "/index.html.br", "/index.html.gz", "/.manifest", "/about/x"):
            missing = http.get(path)
            assert missing.status_code == 404, path
            assert missing.content == SITE["404.html"], path
            _assert_site_headers(missing)
        assert http.get("/about/").content == SITE["about/index.html"]
        folder = http.get("/about")
        assert folder.status_code == 301 and folder.headers["location"] == "/about/"
        _assert_site_headers(folder)
        page = http.get("/")
        again = http.get("/", headers={"If-None-Match": page.headers["etag"]})
        assert again.status_code == 304
    with httpx.Client(base_url=nginx.http) as plain:
        moved = plain.get("/c/alice/?x=1")
        assert moved.status_code == 301
        assert moved.headers["location"] == "https://127.0.0.1/c/alice/?x=1"


@pytest.mark.e2e
def test_nginx_proxies_the_api(nginx: Nginx) -> None:
    with nginx.client() as http:
        spec = http.get("/api/openapi.json")
        assert spec.status_code == 200 and "paths" in spec.json()
        me = http.get("/api/me")
        assert me.status_code == 401 and me.json()["error"]["code"] == "not_signed_in"
        assert me.headers["cache-control"] == "no-store"  # the API's own headers, once each
        for name, value, _ in headers.headers_for("/api/", https=False):
            assert me.headers.get_list(name) == [value], name
        bad = http.post(
            "/api/auth/login", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert bad.status_code == 400 and bad.json()["error"]["code"]
        assert http.get("/api").status_code in {401, 404}  # the API answers, not the site
        # The API makes /admin/ pages; to anyone not an admin, the site's own 404 page.
        for path in ("/admin/metrics/", "/admin/nothing/"):
            hidden = http.get(path)
            assert hidden.status_code == 404 and hidden.content == SITE["404.html"], path
            _assert_site_headers(hidden)


# --- systemd units ----------------------------------------------------------------------


def _unit(path: Path) -> ConfigParser:
    parser = ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path)
    return parser


def _commands(path: Path) -> list[list[str]]:
    service = _unit(path)["Service"]
    return [shlex.split(service[key]) for key in ("ExecStartPre", "ExecStart") if key in service]


SERVICES = [p for p in UNITS if p.suffix == ".service"]


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_units_start_real_commands(path: Path) -> None:
    """Every ExecStart parses with the CLI's own parser: the units cannot drift from it."""
    for command in _commands(path):
        assert command[0] == "/srv/sorastats/.venv/bin/python", command
        if command[1:3] == ["-m", "api"]:
            api_parser().parse_args(command[3:])
        else:
            assert command[1] == "build.py", command
            build_py_parser().parse_args(command[2:])


def test_every_timer_starts_a_service() -> None:
    timers = [p for p in UNITS if p.suffix == ".timer"]
    assert {p.stem for p in timers} == {"sorastats-nightly", "sorastats-maintain"}
    for timer in timers:
        assert (timer.parent / f"{timer.stem}.service").exists()
        assert _unit(timer)["Timer"]["OnCalendar"]
        assert _unit(timer.parent / f"{timer.stem}.service")["Service"]["Type"] == "oneshot"


@pytest.mark.e2e
def test_systemd_analyze_verify() -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (the parse tests above still run)")
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, UNITS)],
        capture_output=True, text=True, timeout=60, cwd=DEPLOY / "systemd",
    )  # fmt: skip
    # /srv/sorastats does not exist on the test machine: only that may be reported.
    problems = [
        line
        for line in verified.stderr.splitlines()
        if "/srv/sorastats/.venv/bin/python is not executable" not in line
    ]
    assert problems == [], verified.stderr
