"""What creators decided through the accounts API, handed to the build (docs/creators.md).

The API publishes one versioned JSON document, `GET /api/build/public-contributions`
(bearer `SORASTATS_BUILD_TOKEN` here, `BUILD_TOKEN` there): prompts creators published,
creators and posts hidden, creators erased, and the codes of pending profile claims. The
build reads it with `--contributions URL|PATH|none`, defensively: a size limit, a strict
shape, and any problem is a `ContributionsError` that stops the build before it publishes.

The pipeline never imports the API package: this document is the whole interface. The
only way back is `report_claim_matches`: the codes of pending claims found in captured
bios, posted to `POST /api/build/claim-matches` with the same token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

import duckdb
import httpx

if TYPE_CHECKING:
    from sorastats.site.config import RenderConfig

FORMAT: Final = "sorastats-contributions"
VERSION: Final = 1
MAX_BYTES: Final = 64 * 1024 * 1024  # the whole document; far above a real export
MAX_PROMPT_CHARS: Final = 5_000
TIMEOUT_S: Final = 30.0
TOKEN_ENV: Final = "SORASTATS_BUILD_TOKEN"  # noqa: S105 (a name, not a value)
EXPORT_PATH: Final = "/api/build/public-contributions"
MATCHES_PATH: Final = "/api/build/claim-matches"

_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
_CODE = re.compile(r"sorastats-[a-z0-9]{6,40}")
_EMAIL = re.compile(r"[^@\s<>\"]{1,64}@[^@\s<>\"]{1,190}\.[^@\s<>\"]{1,63}")  # as --contact takes


class ContributionsError(Exception):
    """The export is missing, unreadable or malformed; the message says which."""


@dataclass(frozen=True)
class Contributions:
    """The decisions the build applies; empty with `--contributions none`."""

    published_prompts: tuple[tuple[str, str, str], ...] = ()  # (post id, creator id, text)
    hidden_creators: tuple[str, ...] = ()  # creator ids
    hidden_posts: tuple[str, ...] = ()  # post ids
    erased_creators: tuple[str, ...] = ()  # creator ids: purged, and suppressed for good
    pending_claims: tuple[tuple[str, str], ...] = ()  # (creator id, code)
    source: str = "none"  # where it came from (a URL without its query, or a path)
    support_email: str = ""  # the API's SUPPORT_EMAIL: the address the site names

    @property
    def suppressed_creators(self) -> tuple[str, ...]:
        """Every creator the site must not show: hidden or erased."""
        return tuple(sorted({*self.hidden_creators, *self.erased_creators}))


NONE: Final = Contributions()


def _list(doc: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ContributionsError(f"`{key}` must be a list of objects")
    return value


def _text(item: Mapping[str, Any], key: str, where: str, pattern: re.Pattern[str]) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ContributionsError(f"{where}.{key}: missing or malformed")
    return value


def parse(data: bytes, source: str = "") -> Contributions:
    """The document, checked: its format and version, every id's shape, every prompt's
    length (plain text; the templates escape it)."""
    if len(data) > MAX_BYTES:
        raise ContributionsError(f"the export is over {MAX_BYTES:,} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ContributionsError(f"the export is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ContributionsError(f"the export is not a {FORMAT} document")
    if doc.get("version") != VERSION:
        raise ContributionsError(
            f"the export has version {doc.get('version')!r}; this build reads {VERSION}"
        )
    prompts: dict[str, tuple[str, str, str]] = {}
    for n, item in enumerate(_list(doc, "published_prompts")):
        where = f"published_prompts[{n}]"
        post_id = _text(item, "post_id", where, _ID)
        creator_id = _text(item, "creator_id", where, _ID)
        text = item.get("prompt")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_PROMPT_CHARS:
            raise ContributionsError(f"{where}.prompt: 1 to {MAX_PROMPT_CHARS:,} characters")
        if "\x00" in text:
            raise ContributionsError(f"{where}.prompt: holds a NUL character")
        prompts[post_id] = (post_id, creator_id, text)
    hidden = [
        _text(item, "creator_id", f"hidden_creators[{n}]", _ID)
        for n, item in enumerate(_list(doc, "hidden_creators"))
    ]
    posts = [
        _text(item, "post_id", f"hidden_posts[{n}]", _ID)
        for n, item in enumerate(_list(doc, "hidden_posts"))
    ]
    erased = [
        _text(item, "creator_id", f"erased_creators[{n}]", _ID)
        for n, item in enumerate(_list(doc, "erased_creators"))
    ]
    claims = [
        (
            _text(item, "creator_id", f"pending_claims[{n}]", _ID),
            _text(item, "code", f"pending_claims[{n}]", _CODE),
        )
        for n, item in enumerate(_list(doc, "pending_claims"))
    ]
    support = doc.get("support_email") or ""
    if not isinstance(support, str) or (support and not _EMAIL.fullmatch(support)):
        raise ContributionsError("support_email: an email address, or absent")
    return Contributions(
        support_email=support,
        published_prompts=tuple(prompts[k] for k in sorted(prompts)),
        hidden_creators=tuple(sorted(set(hidden))),
        hidden_posts=tuple(sorted(set(posts))),
        erased_creators=tuple(sorted(set(erased))),
        pending_claims=tuple(sorted(set(claims))),
        source=source,
    )


def _shown(url: str) -> str:
    """A URL as it may be shown: no query, no credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


def _token(env: Mapping[str, str]) -> str:
    token = env.get(TOKEN_ENV, "")
    if not token:
        raise ContributionsError(f"{TOKEN_ENV} is not set: the export needs the build token")
    return token


def _request(url: str, token: str, body: bytes | None = None) -> bytes:
    """One GET (or POST of `body`) with the token; the answer read up to MAX_BYTES."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        with (
            httpx.Client(timeout=TIMEOUT_S, follow_redirects=False) as client,
            client.stream(
                "POST" if body is not None else "GET", url, headers=headers, content=body
            ) as response,
        ):
            if response.status_code != 200:
                raise ContributionsError(f"{_shown(url)} answered HTTP {response.status_code}")
            data = b""
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > MAX_BYTES:
                    raise ContributionsError(f"the export is over {MAX_BYTES:,} bytes")
    except httpx.HTTPError as exc:
        raise ContributionsError(f"{_shown(url)} could not be read: {exc}") from None
    return data


def load(spec: str, env: Mapping[str, str]) -> Contributions:
    """`none`, an http(s) URL of the export (or the API's origin: the export's path is
    added), or a file holding the document."""
    if spec == "none":
        return NONE
    if spec.startswith(("http://", "https://")):
        url = export_url(spec)
        return parse(_request(url, _token(env)), _shown(url))
    path = Path(spec)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ContributionsError(f"{path}: {exc.strerror or exc}") from None
    return parse(data, str(path))


def export_url(spec: str) -> str:
    parts = urlsplit(spec)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ContributionsError(f"not an http(s) URL: {_shown(spec)}")
    path = parts.path if parts.path not in ("", "/") else EXPORT_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def claim_matches(con: duckdb.DuckDBPyConnection, found: Contributions) -> list[tuple[str, str]]:
    """The pending claims whose code the creator's captured bio holds: (creator id, code)."""
    if not found.pending_claims:
        return []
    ids = [c for c, _ in found.pending_claims]
    codes = [code for _, code in found.pending_claims]
    rows = con.execute(
        """
        SELECT c.creator_id, c.code
        FROM (SELECT unnest(?::VARCHAR[]) AS creator_id, unnest(?::VARCHAR[]) AS code) c
        JOIN creators cr ON cr.id = c.creator_id
        WHERE contains(lower(coalesce(cr.bio, '')), c.code)
        ORDER BY 1, 2
        """,
        [ids, codes],
    ).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def report_claim_matches(spec: str, matches: list[tuple[str, str]], env: Mapping[str, str]) -> int:
    """Post the matches back to the API that made the export (a URL source only; with a
    file the operator approves claims by hand). Returns how many claims it verified."""
    if not matches or not spec.startswith(("http://", "https://")):
        return 0
    parts = urlsplit(export_url(spec))
    url = urlunsplit((parts.scheme, parts.netloc, MATCHES_PATH, "", ""))
    body = json.dumps(
        {"matches": [{"creator_id": c, "code": code} for c, code in matches]}
    ).encode()
    answer = _request(url, _token(env), body)
    try:
        verified = json.loads(answer).get("verified", 0)
    except (ValueError, AttributeError):
        raise ContributionsError(f"{_shown(url)} answered something other than JSON") from None
    return int(verified) if isinstance(verified, int) else 0


def apply_to_render(con: duckdb.DuckDBPyConnection, found: Contributions) -> None:
    """The temporary tables the site's queries filter on (`sorastats.site.queries`):
    creators and posts not to show, and prompts their creators published."""
    con.execute("CREATE OR REPLACE TEMP TABLE hidden_creators (id VARCHAR)")
    con.execute("CREATE OR REPLACE TEMP TABLE hidden_posts (id VARCHAR)")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE shared_prompts "
        "(post_id VARCHAR, creator_id VARCHAR, prompt VARCHAR)"
    )
    if found.suppressed_creators:
        con.execute(
            "INSERT INTO hidden_creators SELECT unnest(?::VARCHAR[])",
            [list(found.suppressed_creators)],
        )
    if found.hidden_posts:
        con.execute(
            "INSERT INTO hidden_posts SELECT unnest(?::VARCHAR[])", [list(found.hidden_posts)]
        )
    if found.published_prompts:
        con.execute(
            "INSERT INTO shared_prompts "
            "SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
            [list(column) for column in zip(*found.published_prompts, strict=True)],
        )


def prepare_render(
    cfg: RenderConfig,
    spec: str,
    env: Mapping[str, str],
    log: Callable[[str], None],
    captures: Path | None = None,
) -> RenderConfig:
    """What `render` and `nightly` do before building: read the export (any problem
    raises `ContributionsError`, so nothing is published), erase the creators it newly
    lists, report the pending claim codes found in captured bios, and return the render's
    settings with the export in them."""
    from dataclasses import replace

    from sorastats.erasure import erase_creators

    found = load(spec, env)
    if found is NONE:
        return cfg
    # One address for the site's Contact link and the API's mails (SUPPORT_EMAIL).
    if found.support_email and not cfg.contact:
        cfg = replace(cfg, contact=found.support_email)
    elif found.support_email and cfg.contact != found.support_email:
        raise ContributionsError(
            f"--contact {cfg.contact} is not the API's SUPPORT_EMAIL {found.support_email}: "
            "the site and the API's mails would name two addresses; drop --contact or "
            "make them the same"
        )
    log(
        f"contributions: {len(found.published_prompts)} published prompt(s), "
        f"{len(found.suppressed_creators)} hidden or erased creator(s), "
        f"{len(found.hidden_posts)} hidden post(s) from {found.source}"
    )
    if found.erased_creators and cfg.db.exists():
        erased = erase_creators(cfg.db, found.erased_creators, captures=captures, log=log)
        if erased.creators:
            log(
                f"contributions: erased {erased.creators} creator(s) and {erased.posts} "
                f"post(s); {erased.archive_files} archive file(s) rewritten"
            )
    if found.pending_claims and cfg.db.exists():
        with duckdb.connect(str(cfg.db), read_only=True) as con:
            matches = claim_matches(con, found)
        if verified := report_claim_matches(spec, matches, env):
            log(f"contributions: {verified} profile claim(s) verified from captured bios")
    return replace(cfg, contributions=found)
