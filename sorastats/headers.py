"""The security headers of every response, site or API: the one table that
`SecurityHeadersMiddleware` applies, docs/security.md shows (a test compares them) and a
CDN in front of a static copy of the site must be configured with (`cdn_headers`).

Two kinds of URL get different values: the API (`/api` and `/api/...`) and the site
(everything else: pages, feeds, sitemaps, static files, the search index, 404s).
The site's CSP is what its pages truly need (checked in chromium by
tests/test_security_headers.py): only this origin's files, no inline script or style
(templates/ has none; `<script type="application/ld+json">` is data, never run), and
WebAssembly for the Pagefind search ('wasm-unsafe-eval' allows compiling wasm only, not
`eval`). `frame-ancestors` works only as a header (a `<meta>` CSP ignores it), hence
X-Frame-Options too for old browsers.
"""

from __future__ import annotations

from dataclasses import dataclass


def _csp(*directives: str) -> str:
    return "; ".join(directives)


SITE_CSP = _csp(
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
# The API answers JSON, plus the two tiny pages mailed links open (api/pages/).
API_CSP = _csp(
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
)
# A browser ignores frame-ancestors in a <meta> CSP and says so on the console.
_META_ONLY_IGNORED = ("frame-ancestors", "report-uri", "sandbox")


@dataclass(frozen=True)
class Header:
    name: str
    site: str | None  # on site responses; None: not sent
    api: str | None  # on /api responses; None: not sent
    why: str
    https_only: bool = False  # sent only when BASE_URL is https://
    default_only: bool = False  # a value the response sets itself is kept


HSTS = "max-age=31536000"

HEADERS: tuple[Header, ...] = (
    Header(
        "Content-Security-Policy",
        SITE_CSP,
        API_CSP,
        "Only this origin's scripts, styles and connections; no inline code, plugins, "
        "`<base>`, or framing by anyone.",
    ),
    Header(
        "X-Frame-Options",
        "DENY",
        "DENY",
        "No framing (clickjacking of /account/) in browsers without `frame-ancestors`.",
    ),
    Header(
        "X-Content-Type-Options",
        "nosniff",
        "nosniff",
        "Files are only what their Content-Type says (no script from a JSON or text file).",
    ),
    Header(
        "Referrer-Policy",
        "same-origin",
        "no-referrer",
        "Other sites (e.g. Sora, Stripe) never learn which page linked to them.",
    ),
    Header(
        "Cross-Origin-Opener-Policy",
        "same-origin",
        "same-origin",
        "A page opened from another site cannot script or navigate ours (and vice versa).",
    ),
    Header(
        "Cross-Origin-Resource-Policy",
        "same-origin",
        "same-origin",
        "Other sites' pages cannot load our files or API answers into theirs.",
    ),
    Header(
        "Permissions-Policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        "Powerful browser features the site never uses are off, also for injected code.",
    ),
    Header(
        "Strict-Transport-Security",
        HSTS,
        HSTS,
        "Browsers use https only, for a year (only when BASE_URL is https://).",
        https_only=True,
    ),
    Header(
        "Cache-Control",
        None,
        "no-store",
        "API answers (sessions, account data) are never stored by browsers or proxies; "
        "site files keep their ETag/Last-Modified revalidation.",
        default_only=True,
    ),
)


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def headers_for(path: str, https: bool) -> list[tuple[str, str, bool]]:
    """(name, value, default_only) of the headers a response to `path` carries."""
    api = is_api_path(path)
    out = []
    for h in HEADERS:
        value = h.api if api else h.site
        if value is not None and (https or not h.https_only):
            out.append((h.name, value, h.default_only))
    return out


def meta_csp() -> str:
    """The site CSP as a `<meta>` may carry it (vault pages, in case a host forgot the
    headers): without the directives a browser ignores there."""
    kept = [d for d in SITE_CSP.split("; ") if not d.startswith(_META_ONLY_IGNORED)]
    return "; ".join(kept)


def cdn_headers() -> str:
    """The site's headers in the `_headers` file format of Cloudflare Pages and Netlify,
    for a static copy of site/ served over https (the API, served by `python -m api
    serve`, sets its own)."""
    lines = ["/*"] + [f"  {n}: {v}" for n, v, _ in headers_for("/", https=True)]
    return "\n".join(lines) + "\n"


def nginx_headers() -> str:
    """The site's headers as nginx `add_header` lines (deploy/nginx/security-headers.conf,
    included by deploy/nginx/sorastats.conf; a test compares the file with this). `always`:
    404s carry them too."""
    lines = [
        "# Generated from sorastats/headers.py (tests/test_deploy.py checks it):",
        "#   python -c 'from sorastats.headers import nginx_headers as h; print(h(), end=\"\")' \\",
        "#     > deploy/nginx/security-headers.conf",
    ]
    lines += [f'add_header {n} "{v}" always;' for n, v, _ in headers_for("/", https=True)]
    return "\n".join(lines) + "\n"


def markdown_table() -> str:
    """The policy as the Markdown table of docs/security.md."""
    rows = [
        "| Header | Site (pages, files, 404s) | API (`/api/...`) | Why |",
        "|---|---|---|---|",
    ]
    for h in HEADERS:
        site = f"`{h.site}`" if h.site else "(not set)"
        api = f"`{h.api}`" if h.api else "(not set)"
        rows.append(f"| `{h.name}` | {site} | {api} | {h.why} |")
    return "\n".join(rows) + "\n"
