"""Availability on the classes of product pages real shops have: variants partly sold out, stock
words that belong to a variant, another product or a delivery widget, classified ads and
marketplaces, pre-order and back-order, stock phrases in many languages, and schema.org markup
the visible page contradicts.

Each page is written as a shop writes one (site header and footer, a buy box, sometimes a
carousel of other products), never keyed on a site; each test fails if its rule is switched off
(`ingest.pages.rules`) or broken."""

from __future__ import annotations

import json

import pytest

from ingest.pages import rules
from ingest.pages.extract import extract_product

URL = "https://shop.example/products/trail-jacket"


def shop(main: str, head: str = "", lang: str = "en", title: str = "Trail Jacket") -> bytes:
    """A product page: the site's header, navigation and footer around `main`."""
    return f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<title>{title} | Example Shop</title>{head}</head><body>
<header class="site-header"><a class="logo" href="/">Example Shop</a>
<nav class="main-nav"><ul><li><a href="/women">Women</a></li><li><a href="/men">Men</a></li>
<li><a href="/sale">Sale</a></li></ul></nav>
<form class="search" action="/search"><input name="q"></form>
<a class="header-cart" href="/cart">Cart (0)</a></header>
<main id="content">{main}</main>
<footer class="site-footer"><ul><li><a href="/help">Customer service</a></li>
<li><a href="/delivery">Delivery</a></li><li><a href="/returns">Returns</a></li>
<li><a href="/contact">Contact us</a></li></ul><p>Newsletter: sign up for offers</p></footer>
</body></html>""".encode()


def jsonld(availability: str | list[str], name: str = "Trail Jacket", price: str = "89.00") -> str:
    values = availability if isinstance(availability, list) else [availability]
    offers = [
        {
            "@type": "Offer",
            "price": price,
            "priceCurrency": "EUR",
            "sku": f"TJ-{n}",
            "availability": f"https://schema.org/{value}",
        }
        for n, value in enumerate(values, start=1)
    ]
    product: dict[str, object] = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": name,
        "sku": "TJ",
        "offers": offers if len(offers) > 1 else offers[0],
    }
    return f'<script type="application/ld+json">{json.dumps(product)}</script>'


def availability(page: bytes, url: str = URL) -> str | None:
    result = extract_product(page, url)
    assert result.record is not None, result.reason
    value: str | None = result.fields["availability"]
    return value


def related(badge: str, button: str = "Add to cart") -> str:
    """A carousel of other products, each tile with a stock badge and a quick-add button."""
    tiles = "".join(
        f"""<li class="product-card"><a href="/products/other-{n}"><img src="/i/{n}.jpg" alt="">
        <span class="product-card__title">Other jacket {n}</span></a>
        <span class="price">€ {n}9,00</span><span class="badge">{badge}</span>
        <button class="quick-add">{button}</button></li>"""
        for n in (3, 4, 5)
    )
    return f'<section class="recommendations"><h2>You may also like</h2><ul>{tiles}</ul></section>'


# --- variants: some sold out, one can be bought -> in stock -------------------------------------


def test_markup_offers_one_variant_sold_out_another_in_stock() -> None:
    head = jsonld(["OutOfStock", "InStock", "OutOfStock"])
    main = """<h1>Trail Jacket</h1><p class="price">€ 89,00</p>
    <button class="add-to-cart" type="submit">Add to cart</button>"""
    assert availability(shop(main, head)) == "InStock"
    with rules.switched_off({"variant-any-in-stock"}):
        assert availability(shop(main, head)) == "OutOfStock"


def test_product_group_with_one_variant_for_sale() -> None:
    group = {
        "@context": "https://schema.org",
        "@type": "ProductGroup",
        "name": "Trail Jacket",
        "productGroupID": "TJ",
        "offers": {
            "@type": "Offer",
            "price": "89.00",
            "priceCurrency": "EUR",
            "availability": "https://schema.org/OutOfStock",
        },
        "hasVariant": [
            {
                "@type": "Product",
                "name": "Trail Jacket S",
                "sku": "TJ-S",
                "offers": {
                    "@type": "Offer",
                    "price": "89.00",
                    "availability": "https://schema.org/OutOfStock",
                },
            },
            {
                "@type": "Product",
                "name": "Trail Jacket M",
                "sku": "TJ-M",
                "offers": {
                    "@type": "Offer",
                    "price": "89.00",
                    "availability": "https://schema.org/InStock",
                },
            },
        ],
    }
    head = f'<script type="application/ld+json">{json.dumps(group)}</script>'
    main = "<h1>Trail Jacket</h1><p class='price'>€ 89,00</p>"
    assert availability(shop(main, head)) == "InStock"


def test_selected_size_sold_out_other_sizes_buyable_fr() -> None:
    main = """<div class="product-main"><h1>Veste de randonnée</h1>
    <p class="prix">89,00 €</p>
    <fieldset class="product-form__sizes"><legend>Taille</legend>
      <label class="size-option is-soldout" title="S - épuisé">S</label>
      <label class="size-option selected is-soldout" title="M - épuisé">M</label>
      <label class="size-option" title="L">L</label>
      <label class="size-option" title="XL">XL</label></fieldset>
    <p class="product-stock">Épuisé dans cette taille</p>
    <button class="btn-notify">M'avertir du retour en stock</button></div>"""
    page = shop(main, lang="fr", title="Veste de randonnée")
    assert availability(page, "https://boutique.example.fr/p/veste") == "InStock"
    with rules.switched_off({"variant-any-in-stock"}):
        assert availability(page, "https://boutique.example.fr/p/veste") == "OutOfStock"


def test_every_size_sold_out_sv() -> None:
    options = "".join(
        f'<option value="{s}" disabled>{s} – slutsåld</option>' for s in ("S", "M", "L")
    )
    main = f"""<h1>Regnjacka</h1><span class="price">899 kr</span>
    <select name="size" class="variant-select"><option value="">Välj storlek</option>{options}</select>
    <button class="notify-me">Bevaka</button>"""
    page = shop(main, lang="sv", title="Regnjacka")
    assert availability(page, "https://butik.example.se/p/regnjacka") == "OutOfStock"


# --- stock words that are not the product's -------------------------------------------------------


def test_sold_out_option_in_a_select_is_one_variants_de() -> None:
    main = """<h1>Wanderjacke</h1><div class="preis">89,00 €</div>
    <label for="size">Größe</label><select id="size" name="size">
      <option value="">Bitte wählen</option><option value="s">S (nicht vorrätig)</option>
      <option value="m">M</option><option value="l">L (ausverkauft)</option></select>
    <button type="submit" class="btn btn-primary">In den Warenkorb</button>"""
    page = shop(main, lang="de", title="Wanderjacke")
    assert availability(page, "https://shop.example.de/p/wanderjacke") == "InStock"


def test_sold_out_badges_of_recommended_products_it() -> None:
    main = """<div class="product-detail"><h1>Giacca da trekking</h1>
    <span class="product-price">89,00 €</span>
    <button class="btn-cart">Aggiungi al carrello</button></div>""" + related(
        "Esaurito", "Avvisami"
    )
    page = shop(main, lang="it", title="Giacca da trekking")
    assert availability(page, "https://negozio.example.it/p/giacca") == "InStock"
    with rules.switched_off({"stock-outside-widgets"}):
        assert availability(page, "https://negozio.example.it/p/giacca") == "OutOfStock"


def test_sold_out_badges_of_recommended_products_beside_markup_in_stock() -> None:
    main = """<h1>Trail Jacket</h1><span class="price">€ 89,00</span>
    <button class="add-to-cart">Add to cart</button>""" + related("Sold out", "Notify me")
    assert availability(shop(main, jsonld("InStock"))) == "InStock"


def test_delivery_estimate_widget_is_not_the_products_stock_nl() -> None:
    main = """<h1>Regenjas</h1><div class="product-price">€ 89,00</div>
    <button class="add-to-cart">In winkelwagen</button>
    <div class="delivery-estimate"><p>Bezorging naar 1012 AB:</p>
    <p class="stock-status">Niet beschikbaar voor bezorging op dit adres</p></div>"""
    page = shop(main, jsonld("InStock"), lang="nl", title="Regenjas")
    assert availability(page, "https://winkel.example.nl/p/regenjas") == "InStock"


def test_store_stock_widget_is_not_the_products_stock_de() -> None:
    main = """<h1>Akkuschrauber 18 V</h1><div class="price">129,00 €</div>
    <button class="add-to-basket">In den Warenkorb</button>
    <div class="store-availability"><span class="availability">Im Markt Köln: nicht verfügbar</span>
    <a href="/maerkte">Anderen Markt wählen</a></div>"""
    page = shop(main, lang="de", title="Akkuschrauber 18 V")
    assert availability(page, "https://baumarkt.example.de/p/akkuschrauber") == "InStock"


# --- classified ads and marketplaces: a price and a contact action --------------------------------


@pytest.mark.parametrize(
    ("lang", "url", "main"),
    [
        (
            "ru",
            "https://doska.example.ru/item/velosiped-123",
            """<h1>Велосипед горный, 21 скорость</h1><div class="item-price">15 000 ₽</div>
            <div class="seller">Продавец: Иван</div>
            <button class="js-phone">Показать телефон</button>
            <a class="btn" href="#write">Написать продавцу</a>""",
        ),
        (
            "pl",
            "https://ogloszenia.example.pl/oferta/rower-456",
            """<h1>Rower górski Kross</h1><h3 class="ad-price">1 200 zł</h3>
            <p>Do negocjacji</p><button class="contact-btn">Napisz wiadomość</button>
            <button class="phone-btn">Pokaż numer</button>""",
        ),
        (
            "ko",
            "https://market.example.kr/articles/789",
            """<h1>캠핑 의자 2개 판매합니다</h1><p class="article-price">35,000원</p>
            <p class="article-region">서울 마포구</p><a class="chat-button" href="/chat/789">채팅하기</a>""",
        ),
    ],
    ids=["ru", "pl", "ko"],
)
def test_classified_ad_with_price_and_contact_action_is_on_offer(
    lang: str, url: str, main: str
) -> None:
    page = shop(main, lang=lang, title="Объявление")
    assert availability(page, url) == "InStock"


def test_classified_ad_without_price_is_a_product_only_with_the_contact_rule() -> None:
    main = """<h1>Rower górski Kross</h1><p>Stan: używany</p><p>Nr ogłoszenia: 654321</p>
    <button class="contact-btn">Napisz wiadomość</button>"""
    page = shop(main, lang="pl", title="Rower")
    result = extract_product(page, "https://ogloszenia.example.pl/oferta/rower-654321")
    assert result.record is not None and result.fields["availability"] == "InStock"
    with rules.switched_off({"contact-seller-offer"}):
        result = extract_product(page, "https://ogloszenia.example.pl/oferta/rower-654321")
        assert result.record is None or result.fields["availability"] != "InStock"


# --- pre-order and back-order ---------------------------------------------------------------------


def test_pre_order_button_en() -> None:
    main = """<h1>Galaxy Quest Deluxe Edition</h1><span class="price">$59.99</span>
    <p class="release-date">Release date: March 14, 2027</p>
    <button class="product-form__submit" name="add">Pre-order now</button>"""
    assert availability(shop(main, title="Galaxy Quest")) == "PreOrder"
    with rules.switched_off({"pre-and-back-order"}):
        assert availability(shop(main, title="Galaxy Quest")) == "InStock"


def test_out_of_stock_but_back_orderable_is_back_order_not_out_of_stock() -> None:
    main = """<h1>Trail Jacket</h1><span class="price">€ 89,00</span>
    <p class="stock-message">Out of stock – available on back-order, ships in 3-4 weeks</p>
    <button class="add-to-cart">Add to cart</button>"""
    assert availability(shop(main)) == "BackOrder"


@pytest.mark.parametrize(
    ("lang", "main", "expected"),
    [
        (
            "ja",
            '<h1>抹茶 100g</h1><p class="price">1,980円</p><p class="stock">お取り寄せ（3〜5日で発送）</p>'
            '<button class="cart-btn">カートに入れる</button>',
            "BackOrder",
        ),
        (
            "es",
            '<h1>Mesa de roble</h1><p class="precio">349,00 €</p><p class="disponibilidad">Bajo pedido: '
            'entrega en 4 semanas</p><button class="btn-comprar">Añadir al carrito</button>',
            "BackOrder",
        ),
        (
            "de",
            '<h1>Konsole X</h1><p class="price">499,00 €</p><div class="availability">Vorbestellbar – '
            'Erscheint am 12.03.</div><button class="btn-buy">Jetzt vorbestellen</button>',
            "PreOrder",
        ),
        (
            "zh",
            '<h1>限量版模型</h1><p class="price">¥299</p><div class="stock-info">预售，3月发货</div>'
            '<button class="buy-btn">立即购买</button>',
            "PreOrder",
        ),
    ],
    ids=["ja-back", "es-back", "de-pre", "zh-pre"],
)
def test_pre_and_back_order_phrases(lang: str, main: str, expected: str) -> None:
    assert availability(shop(main, lang=lang)) == expected


# --- stock phrases in many languages --------------------------------------------------------------

SOLD_OUT = {
    "de": ("Wanderjacke", "89,00 €", "Ausverkauft", "Benachrichtigen, wenn verfügbar"),
    "fr": ("Veste", "89,00 €", "Épuisé", "M'avertir de la disponibilité"),
    "es": ("Chaqueta", "89,00 €", "Agotado", "Avísame cuando esté disponible"),
    "it": ("Giacca", "89,00 €", "Esaurito", "Avvisami quando disponibile"),
    "nl": ("Jas", "€ 89,00", "Uitverkocht", "Mail me als het weer op voorraad is"),
    "pl": ("Kurtka", "349,00 zł", "Produkt niedostępny", "Powiadom mnie o dostępności"),
    "sv": ("Jacka", "899 kr", "Slutsåld", "Bevaka produkten"),
    "pt": ("Casaco", "89,00 €", "Esgotado", "Avise-me quando chegar"),
    "ja": ("ジャケット", "12,800円", "在庫切れ", "再入荷通知を受け取る"),
    "ko": ("재킷", "89,000원", "품절", "재입고 알림 신청"),
    "zh": ("夹克", "¥599", "缺货", "到货通知"),
    "ru": ("Куртка", "8 990 ₽", "Нет в наличии", "Сообщить о поступлении"),
    "he": ("מעיל", "₪349", "אזל מהמלאי", "עדכנו אותי כשיחזור"),
}
IN_STOCK = {
    "de": ("Auf Lager, Lieferzeit 1-3 Werktage", "In den Warenkorb"),
    "fr": ("En stock, expédié sous 24 h", "Ajouter au panier"),
    "es": ("En stock", "Añadir al carrito"),
    "it": ("Disponibile", "Aggiungi al carrello"),
    "nl": ("Op voorraad", "In winkelwagen"),
    "pl": ("Dostępny", "Dodaj do koszyka"),
    "sv": ("Finns i lager", "Lägg i varukorgen"),
    "pt": ("Em estoque", "Adicionar ao carrinho"),
    "ja": ("在庫あり", "カートに入れる"),
    "ko": ("재고 있음", "장바구니 담기"),
    "zh": ("有货", "加入购物车"),
    "ru": ("В наличии", "В корзину"),
    "he": ("במלאי", "הוספה לסל"),
}


def _lang_page(lang: str, stock_block: str) -> bytes:
    name, price, *_ = SOLD_OUT[lang]
    main = f"""<div class="product"><h1>{name}</h1><div class="product-price">{price}</div>
    {stock_block}</div>"""
    return shop(main, lang=lang, title=name)


@pytest.mark.parametrize("lang", sorted(SOLD_OUT))
def test_sold_out_page_in_each_language(lang: str) -> None:
    _, _, badge, notify = SOLD_OUT[lang]
    block = f"""<span class="label label-soldout">{badge}</span>
    <button type="button" class="btn btn-secondary js-notify">{notify}</button>"""
    assert availability(_lang_page(lang, block)) == "OutOfStock"


@pytest.mark.parametrize("lang", sorted(IN_STOCK))
def test_in_stock_page_in_each_language(lang: str) -> None:
    label, buy = IN_STOCK[lang]
    block = f"""<p class="availability">{label}</p>
    <button type="submit" class="btn btn-primary">{buy}</button>"""
    assert availability(_lang_page(lang, block)) == "InStock"


@pytest.mark.parametrize("lang", ["ja", "ko", "he", "pl"])
def test_other_languages_need_the_lexicon(lang: str) -> None:
    _, _, badge, notify = SOLD_OUT[lang]
    block = f"""<span class="label">{badge}</span><button class="btn">{notify}</button>"""
    assert availability(_lang_page(lang, block)) == "OutOfStock"
    with rules.switched_off({"stock-lexicon-languages"}):
        assert availability(_lang_page(lang, block)) != "OutOfStock"


# --- schema.org markup the visible page contradicts -----------------------------------------------


def test_markup_in_stock_page_sold_out_with_notify_button() -> None:
    main = """<div class="product-info"><h1>Trail Jacket</h1>
    <div class="price">€ 89,00</div><span class="badge badge--sold-out">Sold out</span>
    <button class="button notify-me" type="button">Email me when available</button></div>"""
    page = shop(main, jsonld("InStock"))
    assert availability(page) == "OutOfStock"
    with rules.switched_off({"visible-sold-out-beats-markup"}):
        assert availability(page) == "InStock"


def test_markup_in_stock_buy_button_reads_sold_out_es() -> None:
    main = """<h1>Chaqueta de montaña</h1><p class="price">89,00 €</p>
    <button type="submit" name="add" class="product-form__submit" disabled>Agotado</button>"""
    page = shop(main, jsonld("InStock"), lang="es", title="Chaqueta")
    assert availability(page, "https://tienda.example.es/products/chaqueta") == "OutOfStock"


def test_markup_out_of_stock_page_sells_it() -> None:
    main = """<h1>Trail Jacket</h1><div class="price">€ 89,00</div>
    <p class="product-availability">In stock – ships today</p>
    <button class="add-to-cart" type="submit">Add to cart</button>"""
    page = shop(main, jsonld("OutOfStock"))
    assert availability(page) == "InStock"
    with rules.switched_off({"visible-in-stock-beats-markup"}):
        assert availability(page) == "OutOfStock"


def test_markup_in_stock_and_a_sold_out_size_stays_in_stock() -> None:
    main = """<h1>Trail Jacket</h1><div class="price">€ 89,00</div>
    <ul class="swatches" role="radiogroup"><li class="swatch">S</li>
    <li class="swatch swatch--unavailable">M <span class="visually-hidden">Sold out</span></li>
    <li class="swatch">L</li></ul>
    <button class="add-to-cart">Add to cart</button>"""
    assert availability(shop(main, jsonld("InStock"))) == "InStock"


def test_hidden_sold_out_message_does_not_count() -> None:
    main = """<h1>Trail Jacket</h1><div class="price">€ 89,00</div>
    <div class="sold-out-message" style="display:none">Sold out</div>
    <button class="add-to-cart">Add to cart</button>"""
    assert availability(shop(main, jsonld("InStock"))) == "InStock"


def test_stock_words_in_the_title_or_description_are_not_a_badge() -> None:
    main = """<h1>Sold Out Tour T-Shirt</h1><span class="price">€ 29,00</span>
    <div class="product-description"><ul><li>Sold out in two days at launch</li>
    <li>100% cotton</li></ul></div>
    <button class="add-to-cart">Add to cart</button>"""
    assert availability(shop(main, title="Sold Out Tour T-Shirt")) == "InStock"


def _theme_page(markup: str, sold_out: tuple[str, ...], button: str) -> bytes:
    """A product page as a common shop theme renders it: variant radios in a custom element
    shown only with scripts on, a sold-out badge in the price block, the buy form."""
    radios = "".join(
        f'<input type="radio" id="size-{s}" name="Size" value="{s}"'
        f'{" disabled" if s in sold_out else ""}><label for="size-{s}">{s}'
        '<span class="visually-hidden label-unavailable">Variant sold out or unavailable</span>'
        "</label>"
        for s in ("S", "M", "L")
    )
    main = f"""<div class="product__info-container"><h1 class="product__title">Wool Beanie</h1>
    <div class="price price--sold-out"><span class="price-item price-item--regular">€25,00 EUR</span>
    <span class="badge price__badge-sold-out">Sold out</span></div>
    <variant-radios class="no-js-hidden"><fieldset class="js product-form__input">
    <legend class="form__label">Size</legend>{radios}</fieldset></variant-radios>
    <form method="post" action="/cart/add"><button type="submit" name="add"
    class="product-form__submit button"{button}</button></form></div>"""
    return shop(main, jsonld(markup, name="Wool Beanie", price="25.00"), title="Wool Beanie")


def test_theme_page_with_sizes_left_is_in_stock_whatever_the_markup() -> None:
    page = _theme_page("OutOfStock", ("S",), "><span>Add to cart</span>")
    assert availability(page) == "InStock"
    with rules.switched_off({"variant-any-in-stock"}):
        assert availability(page) == "OutOfStock"


def test_theme_page_all_sizes_sold_out_beats_markup_in_stock() -> None:
    page = _theme_page("InStock", ("S", "M", "L"), " disabled><span>Sold out</span>")
    assert availability(page) == "OutOfStock"
