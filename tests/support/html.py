"""A tiny DOM built with the standard library's HTML parser, for asserting on pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from sorastats.site.check import PageFacts

VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def iter(self) -> list[Node]:
        out = [self]
        for c in self.children:
            if isinstance(c, Node):
                out.extend(c.iter())
        return out

    def find_all(self, tag: str, **attrs: str) -> list[Node]:
        want = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [
            n
            for n in self.iter()
            if n.tag == tag and all(n.attrs.get(k) == v for k, v in want.items())
        ]

    def find(self, tag: str, **attrs: str) -> Node:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag} {attrs}>"
        return found[0]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    b = _Builder()
    b.feed(html)
    b.close()
    return b.root


def load(path: Path) -> Node:
    return parse(path.read_text("utf-8"))


def visible_text(doc: Node) -> str:
    """Text a reader sees: everything outside <script>, <style> and <head>."""
    parts: list[str] = []

    def walk(n: Node) -> None:
        if n.tag in ("script", "style", "head"):
            return
        for c in n.children:
            if isinstance(c, str):
                parts.append(c)
            else:
                walk(c)

    walk(doc)
    return " ".join(parts)


class _FactsOracle(HTMLParser):
    """html.parser's reading of a page's facts: the oracle `sorastats.site.check.parse_page`
    (a one-pattern scanner, for speed) must agree with."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.facts = PageFacts()
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a: dict[str, str] = {}
        for k, v in attrs:
            a.setdefault(k, v or "")  # the first of a repeated attribute, as browsers
        self.facts.tags.add(tag)
        if tag == "title":
            self._in_title = True
        elif tag == "link" and a.get("rel") == "canonical":
            self.facts.canonical = a.get("href")
        elif tag == "meta" and a.get("name") == "description":
            self.facts.description = a.get("content")
        elif tag == "meta" and a.get("http-equiv", "").lower() == "refresh":
            self.facts.refresh = a.get("content")
        for attr in ("href", "src"):
            if attr in a and not (tag == "link" and a.get("rel") == "canonical"):
                self.facts.links.append((tag, attr, a[attr]))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.facts.title += data


def facts_by_html_parser(html: str) -> PageFacts:
    oracle = _FactsOracle()
    oracle.feed(html)
    oracle.close()
    return oracle.facts
