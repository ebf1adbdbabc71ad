"""Which displayed price is the product's own: synthetic pages, one per rule of the price
heuristics (page chrome, struck-through and variant prices, product tiles, CJK marks) and of the
markup merge (several offers)."""

from __future__ import annotations

from decimal import Decimal

from ingest.pages import platforms
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
        "<div class='notax'>excl. VAT <span class='price'>4386,00 €</span></div>"
        "<div class='tax'>incl. VAT <span class='price'>5263,20 €</span></div></div>"
        "<button class='add-to-cart'>Add to cart</button>"
    )
    assert _price(body) == "4386"


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
