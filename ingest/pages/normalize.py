"""Field normalisation: prices to Decimal, currencies to ISO 4217, availability to schema.org names."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from price_parser import Price

from ingest.pages import rules
from schemas.currencies import ISO_4217
from schemas.models import Availability

APOSTROPHES = rules.rule(
    "apostrophe-thousands",
    "an apostrophe between digit groups is a thousands separator (1'299.50, 1’299.50)",
)
CURRENCY_WORDS = rules.rule(
    "currency-words",
    "currency words and local marks price-parser does not know (원, ש״ח, บาท, euro, dollars...)",
)

_CURRENT_ALIASES = {"RUR": "RUB"}
"""Withdrawn codes still used for the same currency."""
_PLAIN_NUMBER = re.compile(r"^\s*\d{1,12}(?:\.\d{1,4})?\s*$")
_MAX_PRICE = Decimal("1e10")
_CJK_MARK = re.compile(r"[元円圓￥]")
_APOSTROPHE = re.compile(r"(?<=\d)['’ʼ`´](?=\d{3}(?!\d))")
CURRENCY_WORD = re.compile(
    r"원|ש[\"״]?ח|₪|บาท|(?<!\w)(?:euros?|dollars?|yen|yuan|rmb|nis|złotych|zlotych|korun|"
    r"forint|rubles?|рублей|рубля|рубль|shekels?|lira)(?!\w)|人民币|人民幣",
    re.IGNORECASE,
)
"""Currency words and marks price-parser leaves unread (`12,900원`, `149 ש״ח`, `12,50 Euro`)."""

_SYMBOLS: dict[str, str] = {
    "€": "EUR",
    "£": "GBP",
    "円": "JPY",
    "₹": "INR",
    "₽": "RUB",
    "руб": "RUB",
    "р.": "RUB",
    "₴": "UAH",
    "грн": "UAH",
    "zł": "PLN",
    "zl": "PLN",
    "kč": "CZK",
    "ft": "HUF",
    "lei": "RON",
    "лв": "BGN",
    "kn": "HRK",
    "₺": "TRY",
    "tl": "TRY",
    "₩": "KRW",
    "원": "KRW",
    'ש"ח': "ILS",
    "ש״ח": "ILS",
    "שח": "ILS",
    "nis": "ILS",
    "shekel": "ILS",
    "shekels": "ILS",
    "บาท": "THB",
    "yen": "JPY",
    "yuan": "CNY",
    "rmb": "CNY",
    "人民币": "CNY",
    "人民幣": "CNY",
    "złotych": "PLN",
    "zlotych": "PLN",
    "korun": "CZK",
    "forint": "HUF",
    "lira": "TRY",
    "rubles": "RUB",
    "ruble": "RUB",
    "рублей": "RUB",
    "рубля": "RUB",
    "рубль": "RUB",
    "₪": "ILS",
    "₫": "VND",
    "฿": "THB",
    "r$": "BRL",
    "₱": "PHP",
    "rp": "IDR",
    "rm": "MYR",
    "₸": "KZT",
    "тг": "KZT",
    "тг.": "KZT",
    "ر.س": "SAR",
    "د.إ": "AED",
    "nt$": "TWD",
    "hk$": "HKD",
    "a$": "AUD",
    "au$": "AUD",
    "c$": "CAD",
    "ca$": "CAD",
    "s$": "SGD",
    "nz$": "NZD",
    "us$": "USD",
    "fr.": "CHF",
    "sfr": "CHF",
    "chf": "CHF",
    "din": "RSD",
}
_DOLLAR_BY_TLD = {
    "ca": "CAD",
    "au": "AUD",
    "nz": "NZD",
    "sg": "SGD",
    "hk": "HKD",
    "tw": "TWD",
    "mx": "MXN",
    "cl": "CLP",
    "ar": "ARS",
    "co": "COP",
    "br": "BRL",
}
_YUAN_BY_TLD = {"tw": "TWD", "hk": "HKD", "mo": "MOP"}
"""元 / 圓 is the word for the local dollar: New Taiwan, Hong Kong, Macau; elsewhere renminbi."""
_KRONA_BY_TLD = {"se": "SEK", "no": "NOK", "dk": "DKK", "is": "ISK"}
_RUPEE_BY_TLD = {"pk": "PKR", "lk": "LKR", "np": "NPR"}
_EURO_ALIASES = {"eur", "euro", "euros"}

_AVAILABILITY: dict[str, Availability] = {
    "instock": Availability.IN_STOCK,
    "in_stock": Availability.IN_STOCK,
    "available": Availability.IN_STOCK,
    "true": Availability.IN_STOCK,
    "outofstock": Availability.OUT_OF_STOCK,
    "out_of_stock": Availability.OUT_OF_STOCK,
    "unavailable": Availability.OUT_OF_STOCK,
    "false": Availability.OUT_OF_STOCK,
    "oos": Availability.OUT_OF_STOCK,
    "preorder": Availability.PRE_ORDER,
    "presale": Availability.PRE_ORDER,
    "backorder": Availability.BACK_ORDER,
    "limitedavailability": Availability.LIMITED_AVAILABILITY,
    "soldout": Availability.SOLD_OUT,
    "discontinued": Availability.DISCONTINUED,
    "instoreonly": Availability.IN_STORE_ONLY,
    "onlineonly": Availability.ONLINE_ONLY,
}


def _tld(url: str | None) -> str:
    host = urlsplit(url).hostname or "" if url else ""
    return host.rsplit(".", 1)[-1].lower()


def parse_amount(value: object) -> Decimal | None:
    """A price amount from a number or text (`"1.299,00 €"` -> 1299.00); None when there is none."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        text = repr(value) if isinstance(value, float) else str(value)
    else:
        text = str(value).strip()
    if not text or len(text) > 100:
        return None
    if _PLAIN_NUMBER.match(text):
        amount: Decimal | None = Decimal(text.strip())
    else:
        amount = Price.fromstring(text).amount
    return _bounded(amount)


def _bounded(amount: Decimal | None) -> Decimal | None:
    if amount is None:
        return None
    try:
        amount = amount.quantize(Decimal("0.0001")).normalize()
    except InvalidOperation:
        return None
    if amount < 0 or amount >= _MAX_PRICE:
        return None
    return amount


def parse_price_text(text: str) -> tuple[Decimal | None, str | None]:
    """Amount and raw currency mark of a displayed price (`"£1,299.00"` -> 1299.00, "£";
    `"294 元"` -> 294, "元")."""
    if rules.on(APOSTROPHES):
        text = _APOSTROPHE.sub("", text)
    price = Price.fromstring(text)
    mark = price.currency
    if mark is None and (cjk := _CJK_MARK.search(text)):
        mark = cjk.group(0)
    if mark is None and rules.on(CURRENCY_WORDS) and (word := CURRENCY_WORD.search(text)):
        mark = word.group(0)
    return _bounded(price.amount), mark


def currency_code(value: object, url: str | None = None) -> str | None:
    """ISO 4217 code of a code, symbol or local abbreviation; the URL's TLD settles `$`, `kr`, `Rs`.

    Only current codes (`schemas.currencies`): an alias still in use maps to its current code
    (`RUR`, the ruble's code before 1998, still in Russian shop markup), any other code is None,
    so that an unknown or withdrawn currency loses the currency, not the product."""
    code = _currency_mark(value, url)
    code = _CURRENT_ALIASES.get(code, code) if code else None
    return code if code in ISO_4217 else None


def _currency_mark(value: object, url: str | None) -> str | None:
    if not isinstance(value, str):
        return None
    mark = value.strip()
    if re.fullmatch(r"[A-Za-z]{3}", mark) and mark.lower() not in {"lei", "руб", "nis"}:
        return "EUR" if mark.lower() == "eur" else mark.upper()
    low = mark.lower().rstrip(":")
    tld = _tld(url)
    if low in {"元", "圓"}:
        return _YUAN_BY_TLD.get(tld, "CNY")
    if low in {"¥", "￥"}:
        return "CNY" if tld == "cn" else "JPY"
    if low in _EURO_ALIASES:
        return "EUR"
    if low in _SYMBOLS:
        return _SYMBOLS[low]
    if "$" in low or low in {"dollar", "dollars"}:
        return _DOLLAR_BY_TLD.get(tld, "USD")
    if low in {"kr", "kr.", ":-"}:
        return _KRONA_BY_TLD.get(tld)
    if low in {"rs", "rs.", "₨"}:
        return _RUPEE_BY_TLD.get(tld, "INR")
    return next((code for sym, code in _SYMBOLS.items() if len(sym) > 1 and sym in low), None)


def availability(value: object) -> Availability | None:
    """schema.org availability name of a URL, name or common flag (`in_stock`, `true`): the one
    normaliser every source shares, `ingest.core.availability`."""
    from ingest.core.availability import availability as normalised

    return normalised(value)
