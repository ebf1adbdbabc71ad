"""What the visible page says about the product's stock, read around the product block (the title
and the first buy buttons outside page chrome).

Three kinds of evidence:
  - statements: a label in a stock-named element (`<p class="availability">In stock</p>`) and,
    rule `stock-badges-and-buttons`, a short badge near the title or buy button
    (`<span class="badge">Ausverkauft</span>`);
  - actions: buttons and links that buy, pre-order, notify, contact the seller, or read `Sold out`
    (a buy button that says `Sold out` is not a way to buy);
  - variant choosers, rule `variant-any-in-stock`: options marked sold out beside options that are
    not say that some variant can be bought; every option marked says none can.

Rule `stock-outside-widgets`: statements inside a variant chooser, another product's tile (related
products, carousels, links to other product pages), page chrome, or a store, pick-up or
delivery-estimate widget are not the product's stock, nor are actions in tiles and chrome.

`StockView.availability` weighs them: a statement beats an action (a button names an action, a
label states the stock), except that an out-of-stock statement loses to variants that can still
be bought; an enabled buy action is in stock; a notify-me or sold-out button alone is out of
stock; a contact-the-seller action alone (rule `contact-seller-offer`) is an offer in stock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ingest.pages import layout, rules, stock
from ingest.pages.dom import Page, attrs_of, text_content, visible_text
from ingest.pages.stock import Action
from schemas.models import Availability

WIDGETS = rules.rule(
    "stock-outside-widgets",
    "stock words in variant choosers, other products' tiles, chrome and store/delivery widgets "
    "are not the product's",
)
BADGES = rules.rule(
    "stock-badges-and-buttons",
    "stock statements in short badges near the title/buy button and on buttons (Sold out, Notify "
    "me), not only in stock-named elements",
)
VARIANTS = rules.rule(
    "variant-any-in-stock",
    "a product with variants is in stock when any variant can be bought (markup offers, variant "
    "choosers)",
)
CONTACT = rules.rule(
    "contact-seller-offer",
    "a contact-the-seller action (classified ads, marketplaces) shows an offer in stock",
)

_STOCK_ATTR = re.compile(r"(?<!un)availab|stock|inventory|lieferbar|dispon")
_LABEL_REACH = 300
"""Farthest a stock label may stand from the product block (elements in document order)."""
_BADGE_REACH = 150
"""Farthest a badge or button may stand from it: unnamed text must be closer."""
_ACTION_TAGS = ("button", "a", "input")
_ORDERING = {
    Action.BUY: Availability.IN_STOCK,
    Action.PRE_ORDER: Availability.PRE_ORDER,
    Action.BACK_ORDER: Availability.BACK_ORDER,
}
_MARKED = re.compile(
    r"sold-?out|unavailable|out-?of-?stock|disabled|(?:^|[\s_-])oos(?:$|[\s_-])|not-?available|"
    r"inactive|no-?stock|crossed|strike"
)
_HEADINGS = ("h1", "h2", "h3", "title")
_PROSE = re.compile(
    r"descr|review|comment|question|answer|faq|specification|features|rating|testimonial|blog"
)
_PLACEHOLDER = re.compile(
    r"choose|select|pick|wähle|auswahl|choisi|sélection|elige|selecciona|scegli|seleziona|kies|"
    r"wybierz|välj|escolha|selecione|выберите|選択|선택|选择|選擇|בחר",
    re.IGNORECASE,
)


@dataclass(frozen=True, kw_only=True)
class Statement:
    """One stock statement and where it stands."""

    status: Availability
    kind: int
    """0 a stock-named label, 1 a badge, 2 the text of a stock-named button or link."""
    distance: int
    """Elements between it and the product block."""


@dataclass(frozen=True, kw_only=True)
class StockView:
    """The visible evidence about the product's stock."""

    statement: Statement | None
    """The statement that counts: the nearest label, else the nearest badge, else a button's."""
    buy: Action | None
    """An enabled action to order (buy, pre-order, back-order), the nearest; None when none."""
    blocked: Action | None
    """A notify-me or sold-out button, when there is one."""
    contact: bool
    """A contact-the-seller action in the product block."""
    variants: Availability | None
    """InStock when a chooser marks some options sold out and not others, OutOfStock when it
    marks them all; None when no chooser marks any."""

    def availability(self) -> Availability | None:
        """The product's stock as the visible page states it, or None when it says nothing."""
        variants = self.variants if rules.on(VARIANTS) else None
        if self.statement is not None:
            if (
                self.statement.status == Availability.OUT_OF_STOCK
                and variants == Availability.IN_STOCK
            ):
                return Availability.IN_STOCK
            return self.statement.status
        if self.buy is not None:
            return _ORDERING[self.buy]
        if variants is not None:
            return variants
        if self.blocked is not None:
            return Availability.OUT_OF_STOCK
        if self.contact:
            return Availability.IN_STOCK
        return None

    def sold_out(self) -> bool:
        """Strong evidence that the product cannot be bought: an out-of-stock statement or a
        sold-out / notify-me button, no enabled way to order, no variant that can be bought."""
        says = self.statement.status if self.statement is not None else None
        blocked = says == Availability.OUT_OF_STOCK or (says is None and self.blocked is not None)
        variant_on_sale = rules.on(VARIANTS) and self.variants == Availability.IN_STOCK
        return blocked and self.buy is None and not self.contact and not variant_on_sale

    def in_stock(self) -> bool:
        """Strong evidence that it can be bought: an enabled buy button, no sold-out or notify-me
        button, and an in-stock label or a variant that can be bought."""
        if self.buy != Action.BUY or self.blocked is not None:
            return False
        labelled = (
            self.statement is not None
            and self.statement.kind == 0
            and self.statement.status == Availability.IN_STOCK
        )
        return labelled or (rules.on(VARIANTS) and self.variants == Availability.IN_STOCK)


def read(page: Page, anchors: list[int]) -> StockView:
    """The stock evidence of the page around `anchors` (positions of the title and buy buttons)."""
    statements: list[Statement] = []
    buys: list[tuple[int, Action]] = []
    blocked: Action | None = None
    contact = False
    options: dict[Any, list[bool]] = {}
    for el, distance in _near(page, anchors):
        option = _option(el) if rules.on(VARIANTS) else None
        if option is not None:
            options.setdefault(option[0], []).append(option[1])
        if _is_action(el):
            found = _action(el, page.url)
            if found in _ORDERING:
                buys.append((distance, found))
            elif found in (Action.NOTIFY, Action.SOLD_OUT) and rules.on(BADGES):
                blocked = blocked or found
            elif found == Action.CONTACT and rules.on(CONTACT):
                contact = True
        said = _statement(el, distance, page.url)
        if said is not None:
            statements.append(said)
    return StockView(
        statement=min(statements, key=lambda s: (s.kind, s.distance), default=None),
        buy=min(buys, key=lambda b: b[0])[1] if buys else None,
        blocked=blocked,
        contact=contact,
        variants=_variants(options),
    )


def _near(page: Page, anchors: list[int]) -> Iterator[tuple[Any, int]]:
    for el in page.visible():
        pos = page.order.get(el, 0)
        distance = min((abs(pos - a) for a in anchors), default=0)
        if distance <= _LABEL_REACH:
            yield el, distance


def _is_action(el: Any) -> bool:
    if el.tag == "input":
        return str(el.get("type", "")).lower() in ("submit", "button", "image")
    return el.tag in ("button", "a") or el.get("role") == "button"


def _enabled(el: Any) -> bool:
    return (
        el.get("disabled") is None
        and str(el.get("aria-disabled", "")).lower() != "true"
        and "disabled" not in attrs_of(el).split()
    )


def _action(el: Any, url: str | None) -> Action | None:
    """What an enabled button or link outside chrome and tiles offers."""
    if rules.on(WIDGETS) and _not_the_products(el, url):
        return None
    label = " ".join(
        [visible_text(el, 60), el.get("value", ""), el.get("aria-label", ""), el.get("title", "")]
    )
    said = stock.action(label) if rules.on(BADGES) or rules.on(CONTACT) else None
    if said is None and (stock.BUY_MARKS.search(attrs_of(el)) or stock.BUY_MARKS.search(label)):
        said = Action.BUY
    if said in _ORDERING and not _enabled(el):
        return None  # disabled until a size is chosen, or sold out: no evidence either way
    if said in (Action.NOTIFY, Action.SOLD_OUT, Action.CONTACT) and not rules.on(BADGES):
        return Action.CONTACT if said == Action.CONTACT else None
    return said


def _statement(el: Any, distance: int, url: str | None) -> Statement | None:
    named = len(el) <= 8 and bool(_STOCK_ATTR.search(attrs_of(el)))
    if named:
        text = visible_text(el, 120)
        kind = 2 if el.tag in _ACTION_TAGS or el.getparent().tag in _ACTION_TAGS else 0
    elif rules.on(BADGES) and distance <= _BADGE_REACH and len(el) <= 3 and not _is_action(el):
        text = visible_text(el, 60)
        kind = 1
        if not text or len(text) > 60 or el.tag in _HEADINGS or _in_prose(el):
            return None
    else:
        return None
    status = stock.statement(text)
    if status is None or (kind == 1 and status == Availability.IN_STOCK and len(text) > 25):
        return None
    if rules.on(WIDGETS) and _elsewhere(el, text, status, url):
        return None
    return Statement(status=status, kind=kind, distance=distance)


def _in_prose(el: Any) -> bool:
    """Inside a description, reviews or questions: words about the product, not a badge."""
    return any(
        _PROSE.search(attrs_of(a))
        for a in (el, *el.iterancestors())
        if a.tag not in ("body", "html")
    )


def _elsewhere(el: Any, text: str, status: Availability, url: str | None) -> bool:
    """A statement about a variant, another product, page chrome, a store or a delivery slot."""
    if status == Availability.OUT_OF_STOCK and stock.about_store_or_delivery(text):
        return True
    return (
        layout.in_variant_chooser(el)
        or layout.in_store_or_delivery_widget(el)
        or layout.in_chrome(el)
        or _not_the_products(el, url)
    )


def _not_the_products(el: Any, url: str | None) -> bool:
    """In the site header or chrome, another product's tile, a row of another offer, a dialog."""
    return (
        layout.in_chrome(el, layout.SITE_HEADER)
        or layout.in_tile(el, url)
        or layout.in_offer_row(el, url)
        or layout.in_dialog(el)
    )


def _variants(groups: dict[Any, list[bool]]) -> Availability | None:
    """What the variant choosers near the product block say (per chooser, whether each option is
    marked sold out): some option can be bought (InStock), none can (OutOfStock), or nothing (no
    chooser marks an option)."""
    marked_groups = [g for g in groups.values() if len(g) >= 2 and any(g)]
    if not marked_groups:
        return None
    if any(not all(g) for g in marked_groups):
        return Availability.IN_STOCK
    return Availability.OUT_OF_STOCK


def _option(el: Any) -> tuple[Any, bool] | None:
    """(its group, whether it is marked sold out) for a variant option, None for anything else."""
    if el.tag == "option":
        value = el.get("value")
        text = text_content(el, 60)
        if (
            value == ""
            or (value is None and _PLACEHOLDER.search(text))
            or _PLACEHOLDER.search(text)
        ):
            return None
        return el.getparent(), _marked(el, text)
    is_option = el.get("role") in ("option", "radio") or (
        el.tag == "input" and str(el.get("type", "")).lower() == "radio"
    )
    chooser_child = (
        el.tag in ("li", "button", "a", "label", "span", "div")
        and len(el) <= 3
        and el.getparent() is not None
        and (layout.names_a_variant(el) or _chooser(el.getparent()))
    )
    if not (is_option or chooser_child):
        return None
    text = " ".join([text_content(el, 40), el.get("title", ""), el.get("aria-label", "")])
    parent = el.getparent()
    group = parent.getparent() if el.tag == "input" and parent is not None else parent
    return group, _marked(el, text)


def _chooser(el: Any) -> bool:
    return el.tag in ("ul", "ol", "div", "fieldset") and (
        el.get("role") in ("radiogroup", "listbox") or layout.in_variant_chooser(el, levels=2)
    )


def _marked(el: Any, text: str) -> bool:
    """The option says it is sold out: disabled, a sold-out class, or sold-out words."""
    if el.get("disabled") is not None or str(el.get("aria-disabled", "")).lower() == "true":
        return True
    names = attrs_of(el) + " " + " ".join(str(v).lower() for v in el.attrib.values())
    if _MARKED.search(names):
        return True
    return stock.statement(text) in (Availability.OUT_OF_STOCK, Availability.BACK_ORDER)


__all__ = ["BADGES", "CONTACT", "VARIANTS", "WIDGETS", "Statement", "StockView", "read"]
