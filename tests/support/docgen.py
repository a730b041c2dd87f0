"""Generated blocks of the documentation: tables made from the code's own declarations.

A block in a Markdown file under docs/ looks like

    <!-- generated: NAME ARG ... -->
    (made by this module; never edit by hand)
    <!-- /generated -->

and NAME is one of `GENERATORS`:

- `build-commands CMD ...`: `build.py` commands and their options (sorastats/cli.py).
- `pipeline-settings`: the ingest's environment (sorastats/config.py `SETTINGS`).
- `api-commands`: `python -m api` commands and options (api/__main__.py).
- `api-settings`: the API's settings table (api/config.py `SETTINGS`, Stripe rows included).
- `billing-settings`: the Stripe settings (api/billing/config.py `BILLING_SETTINGS`).
- `endpoints TAG ...`: the endpoints of those route groups (api/app.py `ROUTE_GROUPS`).
- `tiers`: the tier table (sorastats/tiers.py `tier_table_markdown()`).
- `file PATH`: a file of the repository as a fenced block (deploy/'s configs in
  docs/deploy.md: the docs show exactly what the tests run).
- `serving-rules`: how each kind of site file is served and deployed (sorastats/serving.py).
- `open-data`: the Parquet files of /data/ and their columns (sorastats/site/opendata.py).
- `retention`: how long each kind of data is kept and what deletes it
  (sorastats/retention.py); also in content/privacy.md, whose page shows it.
- `privacy-clauses`: each clause of the privacy policy and its tests (tests/privacy/clauses.py).
- `browser-storage`: every cookie and browser storage entry (sorastats/browser_storage.py);
  in content/privacy/cookies.md (the page `/privacy/cookies/`) and docs/privacy.md.

Rewrite every block, or only report stale ones (exit status 1), with

    .venv/bin/python -m tests.support.docgen
    .venv/bin/python -m tests.support.docgen --check

tests/test_docs.py runs the check. This module lives under tests/ because it reads both
the pipeline (`sorastats`) and the API (`api`), and `sorastats` must not import `api`.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

BLOCK = re.compile(
    r"^(?P<open><!-- generated: (?P<spec>[^>]*?) -->\n)"
    r"(?P<body>.*?)"
    r"(?P<close>^<!-- /generated -->)",
    re.S | re.M,
)


def cell(text: object) -> str:
    """One Markdown table cell: whitespace collapsed, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _summaries(parser: argparse.ArgumentParser) -> dict[str, str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {choice.dest: choice.help or "" for choice in action._choices_actions}
    return {}


def _metavar(action: argparse.Action) -> str:
    if isinstance(action.metavar, str):
        return action.metavar
    if action.choices is not None:
        return "|".join(str(choice) for choice in action.choices)
    return action.dest.upper()


def _usage(prog: str, name: str, sub: argparse.ArgumentParser) -> str:
    words = [prog, name]
    for action in sub._actions:
        if action.option_strings or action.help == argparse.SUPPRESS:
            continue
        metavar = _metavar(action)
        if action.nargs == "+":
            words.append(f"{metavar} ...")
        elif action.nargs == "*":
            words.append(f"[{metavar} ...]")
        elif action.nargs == "?":
            words.append(f"[{metavar}]")
        else:
            words.append(metavar)
    return " ".join(words)


def _option(action: argparse.Action) -> str:
    flag = max(action.option_strings, key=len)
    if action.nargs == 0:
        return flag
    return f"{flag} {_metavar(action)}"


def command_tables(prog: str, parser: argparse.ArgumentParser, names: Sequence[str]) -> str:
    """A table of commands, then one of their arguments and options (help texts as written)."""
    subs = _subcommands(parser)
    helps = _summaries(parser)
    unknown = [name for name in names if name not in subs]
    if unknown:
        raise ValueError(f"{prog} has no command {unknown}")
    commands = table(
        ["command", "what it does"],
        ((f"`{_usage(prog, name, subs[name])}`", helps[name]) for name in names),
    )
    rows: list[tuple[str, str, str]] = []
    for name in names:
        for action in subs[name]._actions:
            if "--help" in action.option_strings:
                continue
            shown = _option(action) if action.option_strings else _metavar(action)
            meaning = action.help or ""
            if action.required and action.option_strings:
                meaning += " (required)"
            rows.append((f"`{name}`", f"`{shown}`", meaning))
    if not rows:
        return commands
    return commands + "\n" + table(["command", "argument or option", "meaning"], rows)


def build_commands(*names: str) -> str:
    from sorastats.cli import build_parser

    return command_tables("build.py", build_parser(), names)


def api_commands() -> str:
    from api.__main__ import build_parser

    parser = build_parser()
    return command_tables("python -m api", parser, list(_summaries(parser)))  # aliases: no row


def _default(value: str | None) -> str:
    if value is None:
        return "(none)"
    if value == "":
        return "(empty)"
    return f"`{value}`"


def pipeline_settings() -> str:
    from sorastats.config import SETTINGS

    return table(
        ["variable", "default", "meaning"],
        ((f"`{s.env}`", _default(s.default), s.help) for s in SETTINGS),
    )


def api_settings() -> str:
    from api.config import SETTINGS

    return table(
        ["setting", "default", "meaning"],
        ((f"`{s.name}`", _default(s.default), s.help) for s in SETTINGS),
    )


def billing_settings() -> str:
    from api.billing.config import BILLING_SETTINGS

    return table(
        ["setting", "default", "meaning"],
        ((f"`{s.name}`", _default(s.default), s.help) for s in BILLING_SETTINGS),
    )


def _request(body: dict[str, object] | None, query: dict[str, dict[str, object]]) -> str:
    """`?name=` per query parameter, then `{field, optional_field?}` of the JSON body."""
    from api.validation import OPTIONAL

    parts = [
        f"`?{name}=`" + (" (optional)" if schema.get(OPTIONAL) else "")
        for name, schema in query.items()
    ]
    if body is not None:
        properties = body.get("properties")
        required = body.get("required")
        assert isinstance(properties, dict) and isinstance(required, list)
        if properties:
            fields = [name if name in required else f"{name}?" for name in properties]
            parts.append("`{" + ", ".join(fields) + "}`")
    return " ".join(parts)


def endpoints(*tags: str) -> str:
    from api.app import ROUTE_GROUPS

    groups = {group.tag: group for group in ROUTE_GROUPS}
    unknown = [tag for tag in tags if tag not in groups]
    if unknown:
        raise ValueError(f"no route group {unknown}; there are {sorted(groups)}")
    rows = []
    for tag in tags:
        for ep in groups[tag].endpoints:
            what = ep.summary.rstrip(".") + "." + (f" {ep.description}" if ep.description else "")
            answers = ", ".join(f"{code} {text}" for code, text in sorted(ep.responses.items()))
            rows.append(
                (
                    f"`{ep.method} {ep.path}`",
                    ep.auth,
                    _request(ep.body or ep.request_schema, ep.query),
                    what,
                    answers,
                )
            )
    return table(["endpoint", "auth", "request", "what it does", "answers"], rows)


def include_file(path: str) -> str:
    """A repository file, fenced, with its syntax named by its suffix (or folder)."""
    text = (ROOT / path).read_text()
    lang = {".conf": "nginx", ".service": "ini", ".timer": "ini"}.get(Path(path).suffix, "")
    if path.startswith("deploy/journald/"):
        lang = "ini"
    return f"```{lang}\n{text}```\n"


def tiers() -> str:
    from sorastats.tiers import tier_table_markdown

    return tier_table_markdown()


def security_headers() -> str:
    from sorastats.headers import markdown_table

    return markdown_table()


def cdn_headers() -> str:
    from sorastats.headers import cdn_headers as lines

    return f"```\n{lines()}```\n"


def retention() -> str:
    from sorastats.retention import markdown_table

    return markdown_table()


def browser_storage() -> str:
    from sorastats.browser_storage import markdown_table

    return markdown_table()


def metrics_events() -> str:
    from api.metrics.rules import EVENTS

    rows = [
        (f"`{e.name}`", e.kind.value, e.meaning, f"0 to {e.maximum:g} {e.unit}" if e.unit else "")
        for e in EVENTS
    ]
    return table(["event", "kind", "what it counts", "value"], rows)


def privacy_clauses() -> str:
    from tests.privacy.clauses import CLAUSES

    rows = [
        (
            c.key,
            c.promise,
            "<br>".join(f"`{t}`" for t in c.tests) or "none",
            f"**{c.gap}**" if c.gap else c.limits,
        )
        for c in CLAUSES
    ]
    return table(["clause", "promise", "tests", "limits, gaps"], rows)


def serving_rules() -> str:
    from sorastats import serving

    rows = [
        (
            f"`{rule.example}`",
            rule.name,
            f"`{serving.content_type(rule.example)}`",
            f"`{rule.cache_control}`",
            rule.phase,
            rule.why,
        )
        for rule in serving.RULES
    ]
    rows.append(("`_sorastats/deploy/current.gz`", "deploy manifest", "", "`no-store`",
                 serving.MANIFEST_PHASE, "Written last: a deploy is done when it is."))  # fmt: skip
    return table(["example", "kind", "Content-Type", "Cache-Control", "phase", "why"], rows)


def open_data() -> str:
    from sorastats.site import opendata

    return opendata.schema_markdown()


GENERATORS: dict[str, Callable[..., str]] = {
    "build-commands": build_commands,
    "pipeline-settings": pipeline_settings,
    "api-commands": api_commands,
    "api-settings": api_settings,
    "metrics-events": metrics_events,
    "billing-settings": billing_settings,
    "endpoints": endpoints,
    "tiers": tiers,
    "file": include_file,
    "security-headers": security_headers,
    "cdn-headers": cdn_headers,
    "serving-rules": serving_rules,
    "retention": retention,
    "browser-storage": browser_storage,
    "privacy-clauses": privacy_clauses,
    "open-data": open_data,
}


def blocks(text: str) -> list[tuple[str, list[str], str]]:
    """(name, arguments, current body) of every generated block in a document."""
    found = []
    for match in BLOCK.finditer(text):
        name, *args = match["spec"].split()
        found.append((name, args, match["body"]))
    return found


def generate(spec: str) -> str:
    name, *args = spec.split()
    if name not in GENERATORS:
        raise ValueError(f"unknown generated block {name!r}; known: {sorted(GENERATORS)}")
    return GENERATORS[name](*args)


def regenerate(text: str) -> str:
    """The document with every generated block made again from the code."""
    return BLOCK.sub(lambda m: m["open"] + generate(m["spec"]) + m["close"], text)


def documents() -> list[Path]:
    """The documents with generated blocks: docs/*.md, and the content pages whose tables
    the site shows (sorastats/site/content.py drops the markers)."""
    content = ROOT / "content"
    return [*sorted(DOCS.glob("*.md")), content / "privacy.md", content / "privacy" / "cookies.md"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.docgen",
        description="Rewrite the generated tables in docs/*.md and content/privacy*.md "
        "from the code.",
    )
    parser.add_argument("--check", action="store_true", help="only report stale files; exit 1")
    args = parser.parse_args(argv)
    stale = []
    for path in documents():
        text = path.read_text(encoding="utf-8")
        fresh = regenerate(text)
        if fresh != text:
            stale.append(path.relative_to(ROOT).as_posix())
            if not args.check:
                path.write_text(fresh, encoding="utf-8")
    verb = "stale" if args.check else "rewritten"
    for name in stale:
        print(f"{verb}: {name}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
