"""Everything the site keeps in a browser: one declarative table.

`BROWSER_STORAGE` lists every cookie, localStorage, sessionStorage and IndexedDB entry the
site's pages and the API set, with its purpose, lifetime and category. The page
`/privacy/cookies/` (content/privacy/cookies.md) shows it, generated from here
(tests/support/docgen.py; tests/test_docs.py fails when it drifts), and a browser test
(tests/test_browser_storage.py) walks every page type, sign-in and the vault, collects
everything chromium stored, and fails when something is missing from this table or a row
here is never seen.

It lives in the pipeline package because the site's pages and the API both write entries
and `sorastats` never imports `api`; the test checks the API's cookie names against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from sorastats import retention


class Kind(StrEnum):
    COOKIE = "cookie"
    LOCAL_STORAGE = "localStorage"
    SESSION_STORAGE = "sessionStorage"
    INDEXED_DB = "IndexedDB"


class Category(StrEnum):
    ESSENTIAL = "essential"  # the feature the visitor asked for cannot work without it
    FUNCTIONAL = "functional"  # makes a page nicer; the site works without it
    MEASUREMENT = "measurement"  # counts use or speed (the metrics script stores nothing)


CATEGORY_TEXT: Final[dict[Category, str]] = {
    Category.ESSENTIAL: "needed for something you asked for (signing in, the vault)",
    Category.FUNCTIONAL: "makes pages smoother; everything works without it",
    Category.MEASUREMENT: "measures how the site is used or how fast it is",
}


@dataclass(frozen=True)
class StoredEntry:
    names: tuple[str, ...]  # the entry's name(s): the cookie is `sid` over plain http (dev)
    kind: Kind
    purpose: str
    lifetime: str
    category: Category
    set_by: str  # the code that writes it


SESSION_DAYS: Final = retention.seconds("sessions") // retention.DAY
IDLE_DAYS: Final = retention.seconds("idle sessions") // retention.DAY

BROWSER_STORAGE: Final[tuple[StoredEntry, ...]] = (
    StoredEntry(
        ("__Host-sid", "sid"),
        Kind.COOKIE,
        "Keeps you signed in: a random session token (the server keeps only its hash). "
        "HttpOnly and SameSite=Lax, so scripts cannot read it; Secure (`sid` is its name "
        "on a plain-http development server).",
        f"{SESSION_DAYS} days, or until you sign out; the server ends it after "
        f"{IDLE_DAYS} days without use",
        Category.ESSENTIAL,
        "the API, at sign-in (api/http.py)",
    ),
    StoredEntry(
        ("sorastats.signedIn",),
        Kind.LOCAL_STORAGE,
        'Remembers that this browser is signed in (the value "1", no identifier), so '
        "public pages show the favorite button without asking the server.",
        "until you sign out",
        Category.FUNCTIONAL,
        "templates/static/js/vault-session.js",
    ),
    StoredEntry(
        ("sorastats.settings",),
        Kind.LOCAL_STORAGE,
        "Your site settings, only once you save them on /account/: theme, the window the "
        "video leaderboards list first, and whether you object to usage metrics (then "
        "this browser sends none). No identifier. Signed in, your account keeps them too "
        "and they are copied here.",
        "until you change them or clear this site's data (signing out keeps them)",
        Category.FUNCTIONAL,
        "templates/static/js/account-page.js",
    ),
    StoredEntry(
        ("sorastats-vault",),
        Kind.INDEXED_DB,
        'The vault\'s key, only when you tick "Stay unlocked on this device": a '
        "non-extractable key that this site's scripts can use but not read out.",
        "until you sign out (the key is deleted; the empty database stays)",
        Category.ESSENTIAL,
        "templates/static/js/vault-session.js",
    ),
    StoredEntry(
        ("sorastats.import.run",),
        Kind.LOCAL_STORAGE,
        "While an import from a Sora backup runs on /vault/import/, and after it stopped "
        "unfinished: your account id and two numbers (prompts imported, prompts chosen), so "
        "the page can say after a reload that the import stopped. No file name, no text.",
        "until the import finishes or you sign out",
        Category.ESSENTIAL,
        "templates/static/js/vault-import-page.js",
    ),
    StoredEntry(
        ("sorastats.import.ids",),
        Kind.LOCAL_STORAGE,
        "Prompt ids the server reserved for an import and that are not used yet (random ids "
        "with their expiry, and your account id), so the next import uses them instead of "
        "reserving more than the server allows.",
        "until they are used or you sign out (the server lets them expire after a day)",
        Category.ESSENTIAL,
        "templates/static/js/vault-import-page.js",
    ),
)


def entry_for(kind: Kind, name: str) -> StoredEntry | None:
    for entry in BROWSER_STORAGE:
        if entry.kind is kind and name in entry.names:
            return entry
    return None


def markdown_table() -> str:
    """The table `/privacy/cookies/` shows."""
    lines = ["| name | kind | purpose | lifetime | category |", "|---|---|---|---|---|"]
    for e in BROWSER_STORAGE:
        names = " or ".join(f"`{n}`" for n in e.names)
        cells = (names, e.kind.value, e.purpose, e.lifetime, e.category.value)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", "| category | what it means |", "|---|---|"]
    lines += [f"| {c.value} | {CATEGORY_TEXT[c]} |" for c in Category]
    return "\n".join(lines) + "\n"
