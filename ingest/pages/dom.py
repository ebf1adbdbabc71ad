"""The parsed page (lxml) and the views heuristics share: visible elements, document order, labels."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import lxml.html
from lxml import etree

from ingest.pages.errors import PageTooComplex

INVISIBLE = ("script", "style", "noscript", "template", "svg", "head", "iframe", "object")
"""Elements whose text is never shown as page content."""

MAX_ELEMENTS = 100_000
"""Most elements a page may have: real product pages have a few thousand (the largest of the
dev pages 18,000); the heuristics walk every element, so a million empty tags cost minutes."""

MAX_DEPTH = 255
"""Deepest nesting read: libxml2's HTML parser stops at 256 levels and silently drops the rest
of the page (everything after the deep part too), so a page that reaches it is rejected."""


def parse(text: str) -> Any:
    """The page as an lxml tree (lenient: truncated and malformed HTML parse too)."""
    parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, recover=True)
    root = lxml.html.document_fromstring(text.encode("utf-8", "replace"), parser=parser)
    return root


def attrs_of(el: Any) -> str:
    """Lower-case class, id, itemprop, name and data-* names of an element, space separated."""
    parts = [str(el.get(a, "")) for a in ("class", "id", "itemprop", "name", "data-testid")]
    parts.extend(k for k in el.attrib if isinstance(k, str) and k.startswith("data-"))
    return " ".join(parts).lower()


@dataclass
class Page:
    """One parsed page with its document order and script texts."""

    root: Any
    url: str | None
    order: dict[Any, int] = field(default_factory=dict)
    scripts: list[str] = field(default_factory=list)
    _visible: list[Any] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, text: str, url: str | None) -> Page:
        """The parsed page; raises `PageTooComplex` over `MAX_ELEMENTS` or `MAX_DEPTH`."""
        root = parse(text)
        page = cls(root=root, url=url)
        for index, el in enumerate(root.iter()):
            page.order[el] = index
            if index >= MAX_ELEMENTS:
                raise PageTooComplex(f"too many elements: more than {MAX_ELEMENTS}")
        depth = max_depth(root)
        if depth >= MAX_DEPTH:
            raise PageTooComplex(
                f"nesting too deep: {MAX_DEPTH} levels or more (the HTML parser drops the rest)"
            )
        page.scripts = [s.text or "" for s in root.iter("script")]
        return page

    def visible(self) -> Iterator[Any]:
        """Elements of the body outside scripts, styles and templates, in document order.

        The body's own classes are page-state flags (`menu-hide`, `no-js`), never a hidden page.
        Read once per page (every heuristic walks them).
        """
        if self._visible is None:
            self._visible = list(self._walk_visible())
        return iter(self._visible)

    def _walk_visible(self) -> Iterator[Any]:
        body = self.root.find("body")
        if body is None:
            body = self.root
        hidden: set[Any] = set()
        for el in body.iter():
            if not isinstance(el.tag, str):
                continue
            parent = el.getparent()
            if el.tag in INVISIBLE or parent in hidden or (el is not body and is_hidden(el)):
                hidden.add(el)
                continue
            yield el

    def texts(self) -> list[tuple[int, str, Any]]:
        """Visible text fragments (texts, then tails after their element) in reading order."""
        out: list[tuple[int, int, str, Any]] = []
        for el in self.visible():
            pos = self.order.get(el, 0)
            if el.text and el.text.strip():
                out.append((pos, 0, el.text.strip(), el))
            for child in el:
                if child.tail and child.tail.strip() and isinstance(child.tag, str):
                    last = self.order.get(child, pos) + sum(1 for _ in child.iter()) - 1
                    out.append((last, 1, child.tail.strip(), el))
        out.sort(key=lambda t: (t[0], t[1]))
        return [(p, text, el) for p, _, text, el in out]


def max_depth(root: Any) -> int:
    """Deepest nesting level of the tree (the root is level 0)."""
    depths: dict[Any, int] = {}
    deepest = 0
    for el in root.iter():
        depth = depths.get(el.getparent(), -1) + 1
        depths[el] = depth
        deepest = max(deepest, depth)
    return deepest


def text_content(el: Any, limit: int = 400) -> str:
    """Whitespace-folded text of an element, '' when it is longer than `limit` characters."""
    try:
        text = el.text_content()
    except (ValueError, etree.LxmlError):
        return ""
    return " ".join(text.split()) if len(text) <= limit * 4 else ""


def visible_text(el: Any, limit: int = 400) -> str:
    """Whitespace-folded text of an element without its hidden descendants (`display:none`, a
    hiding class, scripts), '' when it is longer than `limit` characters."""
    parts: list[str] = []
    stack: list[tuple[Any, bool]] = [(el, False)]
    while stack:
        node, tail_only = stack.pop()
        if tail_only:
            parts.append(node.tail or "")
            continue
        parts.append(node.text or "")
        for child in reversed(node):
            stack.append((child, True))
            if isinstance(child.tag, str) and child.tag not in INVISIBLE and not is_hidden(child):
                stack.append((child, False))
        if sum(map(len, parts)) > limit * 4:
            return ""
    text = " ".join(" ".join(parts).split())
    return text if len(text) <= limit * 4 else ""


_HIDDEN_CLASS = re.compile(r"(?:^|[\s_-])(?:hidden|hide|d-none|invisible)(?:$|\s)")
_SHOWN_CLASS = re.compile(r"(?:^|\s)no-?js-hidden(?:$|\s)")
"""Hidden only where scripts are off: a browser shows it."""
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden")


def is_hidden(el: Any) -> bool:
    """Hidden by attribute, inline style or a hiding class (screen-reader-only text stays visible)."""
    if el.get("hidden") is not None or el.get("aria-hidden") == "true":
        return True
    classes = _SHOWN_CLASS.sub(" ", str(el.get("class", "")).lower())
    if _HIDDEN_CLASS.search(classes) and "visually-hidden" not in classes:
        return True
    return bool(_HIDDEN_STYLE.search(str(el.get("style", "")).lower()))
