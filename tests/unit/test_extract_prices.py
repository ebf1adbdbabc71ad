"""Which displayed price is the product's own: synthetic pages, one per rule of the price
heuristics (page chrome, struck-through and variant prices, product tiles, CJK marks) and of the
markup merge (several offers)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ingest.pages import platforms, rules
from ingest.pages.dom import Page
from ingest.pages.extract import extract_product
from ingest.pages.normalize import currency_code, parse_price_text

URL = "https://shop.example/p/1"
FILLER = "<p>Free returns within 30 days.</p>"


def _page(body: str, head: str = "") -> bytes:
    return f"<html><head><title>Lamp</title>{head}</head><body>{body}</body></html>".encode()


def _jsonld(offers: str, name: str = "Desk Lamp") -> str:
    return (
        '<script type="application/ld+json">{"@context": "https://schema.org", "@type": "Product",'
        f' "name": "{name}", "sku": "DL-1", "offers": {offers}}}</script>'
    )


def _price(body: str, head: str = "", url: str = URL) -> str | None:
    result = extract_product(_page(body, head), url)
    assert result.record is not None, result.reason
    price: str | None = result.fields["price"]
    return price


def test_buy_button_in_navigation_does_not_anchor_the_price() -> None:
    body = (
        "<nav><button class='add-to-cart'>Add to cart</button></nav>"
        "<div class='promo'><span class='price'>€ 5,00</span></div>"
        + FILLER * 100
        + "<h1>Desk Lamp</h1>"
        + FILLER * 30
        + "<div><span class='price'>€ 49,00</span></div>"
    )
    assert _price(body) == "49"


def test_price_in_a_carousel_beside_the_buy_button_is_not_the_products() -> None:
    body = (
        "<h1>Desk Lamp</h1><p class='availability'>Currently unavailable.</p>"
        "<div class='a-carousel'><span class='price'>$29.99</span></div>"
        "<div class='buybox'><button class='add-to-cart' disabled>Add to cart</button></div>"
    )
    head = _jsonld('{"@type": "Offer", "availability": "https://schema.org/OutOfStock"}')
    assert _price(body, head) is None


def test_heading_inside_navigation_is_not_the_title() -> None:
    body = (
        "<nav><ul><li><h1>Health services</h1></li></ul></nav>"
        "<h1>Desk Lamp</h1><span class='price'>€ 49,00</span>"
        "<button class='add-to-cart'>Add to cart</button>"
    )
    result = extract_product(_page(body), URL)
    assert result.record is not None and result.record.title == "Desk Lamp"


def test_price_with_a_strike_through_class_is_the_old_price() -> None:
    body = (
        "<h1>Desk Lamp</h1><div class='product-price'><strong>€ 17,10</strong>"
        "<span class='price barred'>€ 18,00</span></div>"
        "<button class='add-to-cart'>Add to cart</button>"
    )
    assert _price(body) == "17.1"


def test_container_whose_number_is_struck_through_is_the_old_price() -> None:
    body = (
        "<h1>Desk Lamp</h1><table>"
        "<tr><td class='price'>List price <del>$420</del></td></tr>"
        "<tr><td>Sale price <b>$294</b></td></tr></table>"
        "<button class='add-to-cart'>Add to cart</button>"
    )
    assert _price(body) == "294"


def test_currency_mark_in_the_next_element_and_cjk_dollar() -> None:
    body = (
        "<h1>鵝肉鬆 250g</h1><p>〈商品編號：M67296549〉</p>"
        "<td>特價 <b>7</b> 折 <span style='font:bold 27px'>294</span><span> 元 </span></td>"
    )
    result = extract_product(_page(body), "https://www.shop.example.com.tw/p/1")
    assert result.record is not None, result.reason
    assert (result.fields["price"], result.fields["currency"]) == ("294", "TWD")


def test_yuan_and_yen_marks_read_by_the_sites_country() -> None:
    assert parse_price_text("294 元") == (Decimal(294), "元")
    assert currency_code("元", "https://shop.example.com.tw/") == "TWD"
    assert currency_code("元", "https://shop.example.cn/") == "CNY"
    assert currency_code("￥", "https://shop.example.cn/") == "CNY"
    assert currency_code("¥", "https://shop.example.jp/") == "JPY"


def test_price_inside_a_link_to_another_product_is_a_tile() -> None:
    tiles = "".join(
        f"<a href='/p/{n}'><figure><span class='item-price'>{n},00 Kn</span></figure></a>"
        for n in (169, 1200, 540)
    )
    body = (
        "<h1>Desk Lamp</h1>"
        + FILLER * 60
        + "<div class='offer'><span class='slider-price'>270,00 Kn</span></div>"
        + "<a class='cta' href='#'>Kupi</a>"
        + "<button class='add-to-cart'>Add to cart</button>"
        + tiles
    )
    assert _price(body, url="https://shop.example.hr/p/1") == "270"


def test_prices_in_a_custom_option_list_are_variant_prices() -> None:
    options = "".join(
        f"<li><div>{n} cans</div><div class='price'>${p}</div></li>"
        for n, p in ((24, 839), (48, 1638))
    )
    body = (
        "<h1>Lamb dinner</h1>"
        + FILLER * 40
        + "<div class='deal'>From $<span>29</span> per can</div>"
        f"<ul class='select'>{options}</ul><a id='buy_btn' class='buy_btn' href='#'>Buy now</a>"
    )
    assert _price(body) == "29"


def test_equally_placed_prices_the_first_one_read_wins() -> None:
    body = (
        "<h1>Desk Lamp</h1><div class='price-wrap'>"
        "<div class='now'><span class='price'>49,00 €</span></div>"
        "<div class='member'><span class='price'>45,00 €</span></div></div>"
        "<button class='add-to-cart'>Add to cart</button>"
    )
    assert _price(body) == "49"


def test_labelled_product_number_shows_a_product_without_buy_button() -> None:
    body = "<h1>Desk Lamp</h1>" + FILLER * 100 + "<p>Product code: DL-2040</p><p>€ 49,00</p>"
    result = extract_product(_page(body), URL)
    assert result.record is not None, result.reason
    assert result.fields["price"] == "49"


def test_offer_the_page_displays_beats_the_first_offer_of_the_markup() -> None:
    offers = '[{"@type": "Offer", "price": "18.00"}, {"@type": "Offer", "price": "17.10"}]'
    body = (
        "<h1>Desk Lamp</h1><div class='pricing'><span class='price'>€ 17,10</span>"
        "<del>€ 18,00</del></div><button class='add-to-cart'>Add to cart</button>"
    )
    assert _price(body, _jsonld(offers)) == "17.1"


def test_stock_label_beats_a_store_pickup_button() -> None:
    body = (
        "<h1>Desk Lamp</h1>"
        + FILLER * 15
        + "<div class='availability'>Disponibile</div>"
        + FILLER * 5
        + "<span class='price'>€ 17,10</span><button class='add-to-cart'>Add to cart</button>"
        "<a class='btn trigger-disponibilita' href='#'>Prenota e ritira</a>"
    )
    result = extract_product(_page(body), URL)
    assert result.fields["availability"] == "InStock"


def test_image_paths_in_scripts_are_not_a_magento_fingerprint() -> None:
    html = "<html><body><script>var logo = 'image/png';</script><h1>Lamp</h1></body></html>"
    assert platforms.detect(Page.of(html, URL)) is None
    magento = "<html><body><script>require(['mage/cookies']);</script></body></html>"
    found = platforms.detect(Page.of(magento, URL))
    assert found is not None and found.source == "magento"


# --- locale number formats and currency marks -----------------------------------------------------


def _shop(main: str, head: str = "", lang: str = "en") -> bytes:
    """A product page with the site's header and footer around `main`."""
    return f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>Shop</title>
{head}</head><body><header class="site-header"><a href="/">Shop</a>
<nav><a href="/new">New</a> <a href="/sale">Sale</a></nav><a class="cart" href="/cart">0</a></header>
<main>{main}</main><footer><p>Free shipping from 50</p><a href="/contact">Contact</a></footer>
</body></html>""".encode()


def _shown(
    main: str, url: str = URL, head: str = "", lang: str = "en"
) -> tuple[str | None, str | None]:
    result = extract_product(_shop(main, head, lang), url)
    assert result.record is not None, result.reason
    return result.fields["price"], result.fields["currency"]


@pytest.mark.parametrize(
    ("shown", "url", "expected"),
    [
        ("1.299,00 €", "https://shop.example.de/p/1", ("1299", "EUR")),
        ("1\u00a0299,00 €", "https://boutique.example.fr/p/1", ("1299", "EUR")),
        ("1\u202f299,90 €", "https://boutique.example.fr/p/1", ("1299.9", "EUR")),
        ("CHF 1'299.50", "https://shop.example.ch/p/1", ("1299.5", "CHF")),
        ("Fr. 1’299.–", "https://shop.example.ch/p/1", ("1299", "CHF")),
        ("R$ 1.299,90", "https://loja.example.com.br/p/1", ("1299.9", "BRL")),
        ("1 299 kr", "https://butik.example.se/p/1", ("1299", "SEK")),
        ("kr 1.299,-", "https://butik.example.dk/p/1", ("1299", "DKK")),
        ("₹1,29,999", "https://shop.example.in/p/1", ("129999", "INR")),
        ("$ 24.990", "https://tienda.example.cl/p/1", ("24990", "CLP")),
        ("12,50 Euro", "https://shop.example.at/p/1", ("12.5", "EUR")),
        ("EUR 12,50", "https://shop.example.at/p/1", ("12.5", "EUR")),
        ("12,900원", "https://shop.example.kr/p/1", ("12900", "KRW")),
        ("149.90 ש״ח", "https://shop.example.co.il/p/1", ("149.9", "ILS")),
        ("2 490 руб.", "https://shop.example.ru/p/1", ("2490", "RUB")),
        ("29,90 zł", "https://sklep.example.pl/p/1", ("29.9", "PLN")),
        ("1 299 Kč", "https://obchod.example.cz/p/1", ("1299", "CZK")),
        ("1,980円", "https://shop.example.jp/p/1", ("1980", "JPY")),
        ("¥1,980", "https://shop.example.jp/p/1", ("1980", "JPY")),
        ("USD 20.00", "https://shop.example.com/p/1", ("20", "USD")),
    ],
)
def test_locale_formats_and_currency_marks(shown: str, url: str, expected: tuple[str, str]) -> None:
    main = (
        "<div class='product'><h1>Desk Lamp</h1>"
        f"<div class='product-price'><span class='value'>{shown}</span></div>"
        "<button class='add-to-cart'>Add to cart</button></div>"
    )
    assert _shown(main, url) == expected


def test_apostrophe_thousands_needs_its_rule() -> None:
    main = (
        "<h1>Desk Lamp</h1><div class='price'>CHF 1’299.50</div>"
        "<button class='add-to-cart'>In den Warenkorb</button>"
    )
    assert _shown(main, "https://shop.example.ch/p/1")[0] == "1299.5"
    with rules.switched_off({"apostrophe-thousands"}):
        result = extract_product(_shop(main), "https://shop.example.ch/p/1")
        assert result.record is None or result.fields["price"] != "1299.5"


def test_currency_word_after_the_number_needs_its_rule() -> None:
    main = (
        "<h1>캠핑 의자</h1><p>35,000원</p><p>서울 마포구</p>"
        "<button class='btn'>장바구니 담기</button>"
    )
    assert _shown(main, "https://shop.example.kr/p/1", lang="ko") == ("35000", "KRW")
    with rules.switched_off({"currency-words"}):
        result = extract_product(_shop(main, lang="ko"), "https://shop.example.kr/p/1")
        assert result.record is None or result.fields["currency"] != "KRW"


# --- VAT-inclusive vs VAT-exclusive pairs -----------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "excl", "incl", "expected"),
    [
        (
            "de",
            "<span>zzgl. MwSt.</span> <span class='price'>84,03 €</span>",
            "<span>inkl. MwSt.</span> <span class='price'>99,99 €</span>",
            "99.99",
        ),
        (
            "fr",
            "<span class='price'>83,33 €</span> <small>HT</small>",
            "<span class='price'>99,99 €</span> <small>TTC</small>",
            "99.99",
        ),
        (
            "pl",
            "<span class='price'>81,29 zł</span> <span>netto</span>",
            "<span class='price'>99,99 zł</span> <span>brutto</span>",
            "99.99",
        ),
        (
            "es",
            "<span class='price'>82,64 €</span> <span>sin IVA</span>",
            "<span class='price'>99,99 €</span> <span>IVA incluido</span>",
            "99.99",
        ),
        (
            "sk",
            "<span class='text'>bez DPH</span> <span class='price'>83,33 €</span>",
            "<span class='text'>s DPH</span> <span class='price'>99,99 €</span>",
            "99.99",
        ),
        (
            "en",
            "<span class='price'>£83.33</span> <span>ex. VAT</span>",
            "<span class='price'>£99.99</span> <span>inc. VAT</span>",
            "99.99",
        ),
    ],
    ids=["de", "fr", "pl", "es", "sk", "en"],
)
def test_vat_inclusive_price_of_a_pair(lang: str, excl: str, incl: str, expected: str) -> None:
    main = (
        "<div class='product'><h1>Desk Lamp</h1><div class='price-box'>"
        f"<div class='row-a'>{excl}</div><div class='row-b'>{incl}</div></div>"
        "<button class='add-to-cart'>Add to cart</button></div>"
    )
    assert _shown(main, lang=lang)[0] == expected
    with rules.switched_off({"vat-inclusive-price"}):
        assert _shown(main, lang=lang)[0] != expected


def test_vat_inclusive_price_specification_in_markup() -> None:
    offer = (
        '{"@type": "Offer", "priceCurrency": "EUR", "priceSpecification": ['
        '{"@type": "UnitPriceSpecification", "price": "84.03", "valueAddedTaxIncluded": false},'
        '{"@type": "UnitPriceSpecification", "price": "99.99", "valueAddedTaxIncluded": true}]}'
    )
    assert _shown("<h1>Desk Lamp</h1>", head=_jsonld(offer))[0] == "99.99"


def test_a_lone_price_without_vat_is_still_the_price() -> None:
    main = (
        "<h1>Desk Lamp</h1><div class='price'>84,03 € <small>excl. VAT</small></div>"
        "<button class='add-to-cart'>Add to cart</button>"
    )
    assert _shown(main)[0] == "84.03"


# --- unit prices, 'from' prices, instalments, two currencies -----------------------------------


@pytest.mark.parametrize(
    ("lang", "unit"),
    [
        ("de", "<span class='base'>(9,98 € / kg)</span>"),
        ("de", "<span class='grundpreis'>Grundpreis: 9,98 €</span>"),
        ("fr", "<span class='ppu'>Prix au kilo : 9,98 €</span>"),
        ("en", "<span class='sub'>(£9.98 per kg)</span>"),
        ("en", "<span class='sub'>1 kg = £9.98</span>"),
        ("sv", "<span class='compare'>Jämförpris 9,98 kr/kg</span>"),
        ("es", "<span class='pum'>9,98 €/kg</span>"),
    ],
)
def test_unit_price_is_not_the_items_price(lang: str, unit: str) -> None:
    main = (
        f"<h1>Coffee beans 500 g</h1><p class='info'>{unit}</p>"
        "<div class='buy'><span class='amount'>4,99</span><span class='cur'>€</span>"
        "<button class='add-to-cart'>Add to cart</button></div>"
    )
    if "kr" in unit:
        main = main.replace("€", "kr")
    if "£" in unit:
        main = main.replace("4,99", "4.99").replace("€", "£")
    assert _shown(main, lang=lang)[0] == "4.99"


def test_unit_price_rule_switched_off_picks_it() -> None:
    main = (
        "<h1>Coffee beans 500 g</h1><div class='buy-box'><strong class='big'>4,99 €</strong> "
        "<span class='price small'>(9,98 € / kg)</span>"
        "<button class='add-to-cart'>Add to cart</button></div>"
    )
    assert _shown(main)[0] == "4.99"
    with rules.switched_off({"unit-price"}):
        assert _shown(main)[0] == "9.98"


def test_from_price_loses_to_the_selected_variants_price() -> None:
    main = (
        "<h1>Desk Lamp</h1><p class='lead'><span class='price'>from $19.99</span></p>"
        "<div class='variant-price'><span class='price'>$24.99</span></div>"
        "<button class='add-to-cart'>Add to cart</button>"
    )
    assert _shown(main)[0] == "24.99"
    with rules.switched_off({"from-price"}):
        assert _shown(main)[0] == "19.99"


@pytest.mark.parametrize(
    ("lang", "shown", "expected"),
    [
        ("de", "<span class='price'>ab 19,99 €</span>", "19.99"),
        ("ja", "<span class='price'>1,980円～</span>", "1980"),
    ],
)
def test_a_lone_from_price_is_the_price(lang: str, shown: str, expected: str) -> None:
    main = f"<h1>Desk Lamp</h1><div>{shown}</div><button class='add-to-cart'>Add to cart</button>"
    assert _shown(main, lang=lang)[0] == expected


@pytest.mark.parametrize(
    ("lang", "url", "block", "expected"),
    [
        (
            "es",
            "https://tienda.example.com.ar/p/1",
            "<p class='installments'>12 x <span class='price'>$ 2.900</span> sin interés</p>"
            "<p class='price-main'><span class='price'>$ 34.800</span></p>",
            "34800",
        ),
        (
            "pt",
            "https://loja.example.com.br/p/1",
            "<p><span class='price'>R$ 1.299,90</span></p>"
            "<p class='parcelas'>ou 12x de <span class='price'>R$ 108,33</span> sem juros</p>",
            "1299.9",
        ),
        (
            "en",
            URL,
            "<p class='bnpl'>or 4 interest-free payments of <b class='price'>$12.50</b></p>"
            "<p><span class='price'>$50.00</span></p>",
            "50",
        ),
        (
            "de",
            "https://shop.example.de/p/1",
            "<p class='fin'>Finanzierung: <span class='price'>29,99 €</span> mtl.</p>"
            "<p><span class='price'>719,00 €</span></p>",
            "719",
        ),
    ],
    ids=["es-ar", "pt-br", "en", "de"],
)
def test_instalment_is_not_the_price(lang: str, url: str, block: str, expected: str) -> None:
    main = f"<h1>Desk Lamp</h1>{block}<button class='add-to-cart'>Add to cart</button>"
    assert _shown(main, url, lang=lang)[0] == expected


def test_instalment_rule_switched_off_can_pick_the_instalment() -> None:
    main = (
        "<h1>Desk Lamp</h1><p class='cuotas'>12 x <span class='price'>$ 2.900</span></p>"
        "<p><span class='price'>$ 34.800</span></p><button class='add-to-cart'>Add to cart</button>"
    )
    url = "https://tienda.example.com.ar/p/1"
    assert _shown(main, url)[0] == "34800"
    with rules.switched_off({"instalment-price"}):
        assert _shown(main, url)[0] == "2900"


@pytest.mark.parametrize(
    ("url", "block", "expected"),
    [
        (
            "https://shop.example.de/p/1",
            "<p><span class='price'>€ 25,00</span> (<span class='price'>CHF 27,50</span>)</p>",
            ("25", "EUR"),
        ),
        (
            "https://shop.example.bg/p/1",
            "<p><span class='price'>19,99 лв.</span> / <span class='price'>10,22 €</span></p>",
            ("19.99", "BGN"),
        ),
        (
            "https://shop.example.com/p/1",
            "<p><span class='price'>€ 25,00</span> <small>≈ <span class='price'>$27.10</span></small></p>",
            ("25", "EUR"),
        ),
    ],
    ids=["brackets", "slash", "approx"],
)
def test_price_in_two_currencies_is_the_first(
    url: str, block: str, expected: tuple[str, str]
) -> None:
    main = f"<h1>Desk Lamp</h1>{block}<button class='add-to-cart'>Add to cart</button>"
    assert _shown(main, url) == expected


def test_second_currency_rule_switched_off() -> None:
    main = (
        "<h1>Desk Lamp</h1><p class='price'><strong>€ 25,00</strong> "
        "<span class='price-chf'>(CHF 27,50)</span></p><button class='add-to-cart'>Add</button>"
    )
    assert _shown(main, "https://shop.example.de/p/1")[0] == "25"
    with rules.switched_off({"second-currency"}):
        assert _shown(main, "https://shop.example.de/p/1")[0] == "27.5"


# --- the selected variant's price -----------------------------------------------------------------


def test_price_of_the_variant_the_address_selects() -> None:
    offers = (
        '[{"@type": "Offer", "price": "19.99", "sku": "DL-S", "priceCurrency": "EUR",'
        ' "url": "https://shop.example/p/1?variant=101"},'
        ' {"@type": "Offer", "price": "24.99", "sku": "DL-L", "priceCurrency": "EUR",'
        ' "url": "https://shop.example/p/1?variant=102"}]'
    )
    page = _page("<h1>Desk Lamp</h1>", _jsonld(offers))
    result = extract_product(page, "https://shop.example/p/1?variant=102")
    assert result.fields["price"] == "24.99"
    with rules.switched_off({"selected-variant-price"}):
        result = extract_product(page, "https://shop.example/p/1?variant=102")
        assert result.fields["price"] == "19.99"


def test_shopify_variant_the_address_selects() -> None:
    meta = (
        '{"product": {"id": 1, "vendor": "Acme", "variants": ['
        '{"id": 3101, "price": 1999, "sku": "DL-S"}, {"id": 3102, "price": 2499, "sku": "DL-L"}]}}'
    )
    html = (
        "<html><head><title>Desk Lamp</title></head><body>"
        "<script>var Shopify = Shopify || {};\nShopify.shop = 'lamps.myshopify.com';</script>"
        f"<script>var meta = {meta};\nfor (var attr in meta) {{}}</script>"
        "<h1>Desk Lamp</h1><button class='add-to-cart'>Add to cart</button></body></html>"
    )
    result = extract_product(html.encode(), "https://shop.example/products/lamp?variant=3102")
    assert (result.fields["price"], result.fields["sku"]) == ("24.99", "DL-L")


@pytest.mark.parametrize(
    ("lang", "url", "shown", "expected"),
    [
        ("pl", "https://sklep.example.pl/p/1", "29,90 zł/szt.", "29.9"),
        ("en", "https://fabric.example.co.uk/p/1", "£12.50 per m", "12.5"),
    ],
)
def test_a_lone_price_per_piece_or_metre_is_the_price(
    lang: str, url: str, shown: str, expected: str
) -> None:
    main = (
        f"<h1>Desk Lamp</h1><div class='product-price'>{shown}</div>"
        "<button class='add-to-cart'>Add to cart</button>"
    )
    assert _shown(main, url, lang=lang)[0] == expected
