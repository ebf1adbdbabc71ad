"""What a shop's words say about stock: a lexicon of stock statements and buy actions, by language.

A *statement* is a label about the product's stock (`In stock`, `Ausverkauft`, `在庫切れ`); an
*action* is what a button or link offers (`Add to cart`, `Notify me`, `Contact seller`). Both are
read by `statement` and `action`, which know English, most European languages (de, fr, es, it,
nl, pl, sv, da, no, fi, pt, cs, sk, hu, ro, tr, el), Russian, Ukrainian, Japanese, Korean,
Chinese and Hebrew.

In one text the most specific statement wins: back-order and pre-order (`Out of stock, available
on back-order`) over out-of-stock and notify-me (`Notify me when back in stock`) over in-stock
(`not available` is read before `available`). A statement about a store, pick-up or delivery
(`Not available for home delivery`, `Im Markt verfügbar`) is not about the product's stock
(`about_store_or_delivery`).

With the rule `stock-lexicon-languages` off only the English phrases are known (the CV script's
measure of what the other languages are worth); with `pre-and-back-order` off pre-order and
back-order phrases are not read.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cache

from ingest.pages import rules
from schemas.models import Availability

LANGUAGES = rules.rule(
    "stock-lexicon-languages",
    "stock statements and buy/notify/contact actions in languages other than English",
)
ORDERS = rules.rule(
    "pre-and-back-order",
    "pre-order and back-order phrases are PreOrder/BackOrder (and beat an out-of-stock phrase)",
)


class Action(StrEnum):
    """What a button or link offers."""

    BUY = "buy"
    """Add to cart, buy now: the product can be bought."""
    PRE_ORDER = "pre-order"
    """Pre-order / reserve: it can be ordered before release."""
    BACK_ORDER = "back-order"
    """Order now, delivered when restocked."""
    NOTIFY = "notify"
    """Notify me / email me when available: it cannot be bought now."""
    SOLD_OUT = "sold-out"
    """A button that reads `Sold out`: it cannot be bought now."""
    CONTACT = "contact"
    """Contact the seller, show the phone number, send a message: a classified ad's offer."""


_OUT = "out"
_NOTIFY = "notify"
_PRE = "pre"
_BACK = "back"
_IN = "in"
_BUY = "buy"
_CONTACT = "contact"
_PLACE = "place"

_LEXICON: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        _OUT: (
            "out of stock",
            "out-of-stock",
            "sold out",
            "soldout",
            "currently unavailable",
            "temporarily unavailable",
            "no longer available",
            "not available",
            "unavailable",
            "not in stock",
            "no stock",
            "discontinued",
            "none in stock",
        ),
        _NOTIFY: (
            "notify me",
            "email me when",
            "e-mail me when",
            "let me know when",
            "alert me when",
            "back in stock alert",
            "notify when available",
            "get notified",
            "join the waitlist",
            "join waitlist",
            "remind me",
        ),
        _PRE: ("pre-order", "preorder", "pre order", "available for pre-order"),
        _BACK: ("backorder", "back-order", "back order", "backordered"),
        _IN: (
            "in stock",
            "available",
            "ready to ship",
            "ships today",
            "ready for dispatch",
            "left in stock",
            "only \\d+ left",
        ),
        _BUY: (
            "add to cart",
            "add to basket",
            "add to bag",
            "add to trolley",
            "add to order",
            "buy now",
            "buy it now",
            "purchase",
        ),
        _CONTACT: (
            "contact seller",
            "contact the seller",
            "contact dealer",
            "contact the dealer",
            "message seller",
            "send message",
            "send a message",
            "chat with seller",
            "show phone",
            "show number",
            "reveal phone",
            "call seller",
            "reply to ad",
            "make an offer",
            "make offer",
            "contact advertiser",
        ),
        _PLACE: (
            "pickup",
            "pick up",
            "pick-up",
            "in store",
            "in-store",
            "in stores",
            "click & collect",
            "click and collect",
            "collect in",
            "delivery to",
            "deliver to",
            "home delivery",
            "postcode",
            "zip code",
            "near you",
            "nearby store",
        ),
    },
    "de": {
        _OUT: (
            "ausverkauft",
            "nicht auf lager",
            "nicht mehr auf lager",
            "nicht lieferbar",
            "nicht verfügbar",
            "nicht mehr verfügbar",
            "nicht vorrätig",
            "nicht erhältlich",
            "vergriffen",
            "nicht mehr lieferbar",
        ),
        _NOTIFY: (
            "benachrichtigen",
            "benachrichtige mich",
            "benachrichtigung",
            "erinnere mich",
            "verfügbarkeitsalarm",
            "e-mail wenn verfügbar",
        ),
        _PRE: (
            "vorbestellen",
            "vorbestellbar",
            "jetzt vorbestellen",
            "vorbestellung",
            "vorverkauf",
        ),
        _BACK: ("nachbestellt", "im zulauf", "wird nachgeliefert", "lieferbar ab"),
        _IN: (
            "auf lager",
            "lieferbar",
            "sofort lieferbar",
            "vorrätig",
            "verfügbar",
            "sofort versandfertig",
            "versandfertig",
            "am lager",
        ),
        _BUY: ("in den warenkorb", "warenkorb", "jetzt kaufen", "kaufen", "sofort kaufen"),
        _CONTACT: (
            "verkäufer kontaktieren",
            "anbieter kontaktieren",
            "händler kontaktieren",
            "nachricht schreiben",
            "nachricht senden",
            "telefonnummer anzeigen",
            "kontaktieren",
        ),
        _PLACE: (
            "abholung",
            "abholen",
            "im markt",
            "in der filiale",
            "filiale",
            "lieferung nach",
            "postleitzahl",
            "click & collect",
        ),
    },
    "fr": {
        _OUT: (
            "épuisé",
            "épuisée",
            "épuisés",
            "rupture de stock",
            "en rupture",
            "indisponible",
            "plus disponible",
            "non disponible",
            "hors stock",
            "victime de son succès",
            "pas en stock",
        ),
        _NOTIFY: (
            "m'avertir",
            "m’avertir",
            "me prévenir",
            "prévenez-moi",
            "alertez-moi",
            "m'alerter",
            "m’alerter",
            "être alerté",
            "être averti",
            "être prévenu",
        ),
        _PRE: ("précommande", "précommander", "pré-commande", "en prévente"),
        _BACK: ("en réapprovisionnement", "sur commande", "en cours de réapprovisionnement"),
        _IN: ("en stock", "disponible", "disponibles", "expédié sous"),
        _BUY: ("ajouter au panier", "acheter", "mettre au panier", "commander"),
        _CONTACT: (
            "contacter le vendeur",
            "contacter l'annonceur",
            "contacter l’annonceur",
            "envoyer un message",
            "voir le numéro",
            "afficher le numéro",
            "contacter",
        ),
        _PLACE: ("retrait", "en magasin", "livraison à", "code postal", "click & collect"),
    },
    "es": {
        _OUT: (
            "agotado",
            "agotada",
            "agotados",
            "sin stock",
            "sin existencias",
            "no disponible",
            "fuera de stock",
            "temporalmente agotado",
            "no hay stock",
        ),
        _NOTIFY: ("avísame", "avisadme", "notificarme", "notifícame", "avisar cuando"),
        _PRE: ("preventa", "pre-venta", "reserva ya", "reservar ahora", "pre-orden", "preorden"),
        _BACK: ("bajo pedido", "por encargo", "sobre pedido"),
        _IN: (
            "en stock",
            "disponible",
            "disponibles",
            "en existencia",
            "hay existencias",
            "stock disponible",
        ),
        _BUY: ("añadir al carrito", "agregar al carrito", "añadir a la cesta", "comprar"),
        _CONTACT: (
            "contactar al vendedor",
            "contactar con el vendedor",
            "contactar",
            "enviar mensaje",
            "ver teléfono",
            "chatear",
        ),
        _PLACE: ("recogida", "recoger", "en tienda", "envío a", "código postal"),
    },
    "it": {
        _OUT: (
            "esaurito",
            "esaurita",
            "esauriti",
            "non disponibile",
            "non più disponibile",
            "terminato",
            "fuori stock",
            "non è disponibile",
        ),
        _NOTIFY: ("avvisami", "avvisatemi", "notificami", "avviso di disponibilità"),
        _PRE: ("preordina", "preordine", "pre-ordine", "in prevendita"),
        _BACK: ("su ordinazione", "in riassortimento", "in arrivo"),
        _IN: ("disponibile", "in magazzino", "pronta consegna", "disponibilità immediata"),
        _BUY: ("aggiungi al carrello", "acquista", "compra ora", "compra"),
        _CONTACT: (
            "contatta il venditore",
            "contatta l'inserzionista",
            "contatta",
            "invia messaggio",
        ),
        _PLACE: ("ritiro", "ritira", "in negozio", "consegna a", "prenota e ritira"),
    },
    "nl": {
        _OUT: (
            "uitverkocht",
            "niet op voorraad",
            "niet leverbaar",
            "niet beschikbaar",
            "tijdelijk uitverkocht",
            "niet meer leverbaar",
        ),
        _NOTIFY: (
            "houd me op de hoogte",
            "mail me",
            "stuur mij een bericht",
            "breng me op de hoogte",
        ),
        _PRE: ("pre-order", "voorbestellen", "reserveren"),
        _BACK: ("in nabestelling", "nabestelling", "wordt nabesteld"),
        _IN: ("op voorraad", "leverbaar", "direct leverbaar", "beschikbaar"),
        _BUY: (
            "in winkelwagen",
            "in winkelmand",
            "toevoegen aan winkelwagen",
            "bestellen",
            "koop nu",
        ),
        _CONTACT: (
            "contact opnemen",
            "bericht sturen",
            "stuur een bericht",
            "bel verkoper",
            "bieden",
        ),
        _PLACE: ("afhalen", "in de winkel", "bezorging", "postcode"),
    },
    "pl": {
        _OUT: (
            "wyprzedany",
            "wyprzedane",
            "brak w magazynie",
            "brak na stanie",
            "niedostępny",
            "niedostępna",
            "niedostępne",
            "brak towaru",
            "chwilowo niedostępny",
            "brak produktu",
        ),
        _NOTIFY: ("powiadom mnie", "powiadom o dostępności", "powiadomienie o dostępności"),
        _PRE: ("przedsprzedaż", "zamów przedpremierowo", "przedsprzedaży"),
        _BACK: ("na zamówienie",),
        _IN: ("dostępny", "dostępna", "dostępne", "w magazynie", "na stanie", "produkt dostępny"),
        _BUY: ("dodaj do koszyka", "do koszyka", "kup teraz", "kup"),
        _CONTACT: (
            "napisz wiadomość",
            "wyślij wiadomość",
            "skontaktuj się",
            "pokaż numer",
            "zadzwoń",
            "napisz do sprzedającego",
        ),
        _PLACE: ("odbiór", "w sklepie", "dostawa do", "kod pocztowy"),
    },
    "sv": {
        _OUT: (
            "slutsåld",
            "slut i lager",
            "ej i lager",
            "tillfälligt slut",
            "inte i lager",
            "finns ej i lager",
            "slutsålt",
        ),
        _NOTIFY: ("bevaka", "meddela mig", "påminn mig"),
        _PRE: ("förhandsboka", "förboka", "förbeställ"),
        _BACK: ("beställningsvara", "restnoterad"),
        _IN: ("i lager", "finns i lager", "i webblager"),
        _BUY: ("lägg i varukorgen", "lägg i kundvagnen", "köp"),
        _CONTACT: ("kontakta säljaren", "skicka meddelande", "visa telefonnummer", "kontakta"),
        _PLACE: ("hämta i butik", "i butik", "leverans till", "postnummer"),
    },
    "da": {
        _OUT: ("udsolgt", "ikke på lager", "midlertidigt udsolgt"),
        _NOTIFY: ("giv mig besked",),
        _IN: ("på lager",),
        _BUY: ("læg i kurv", "køb", "tilføj til kurv"),
        _CONTACT: ("kontakt sælger", "send besked"),
    },
    "no": {
        _OUT: ("utsolgt", "ikke på lager", "ikke tilgjengelig"),
        _NOTIFY: ("varsle meg", "gi meg beskjed"),
        _IN: ("på lager",),
        _BUY: ("legg i handlekurv", "kjøp", "legg i handlevogn"),
        _CONTACT: ("kontakt selger", "send melding"),
    },
    "fi": {
        _OUT: ("loppuunmyyty", "ei varastossa", "tilapäisesti loppu", "loppu varastosta"),
        _NOTIFY: ("ilmoita kun",),
        _IN: ("varastossa",),
        _BUY: ("lisää ostoskoriin", "ostoskoriin", "osta"),
    },
    "pt": {
        _OUT: (
            "esgotado",
            "esgotada",
            "indisponível",
            "sem estoque",
            "sem stock",
            "fora de estoque",
            "produto esgotado",
            "não disponível",
        ),
        _NOTIFY: ("avise-me", "avise me", "avisar quando", "me avise"),
        _PRE: ("pré-venda", "pré-encomenda", "pré-reserva"),
        _BACK: ("sob encomenda",),
        _IN: ("em estoque", "em stock", "disponível", "pronta entrega"),
        _BUY: ("adicionar ao carrinho", "adicionar ao cesto", "comprar agora", "comprar"),
        _CONTACT: ("contatar vendedor", "contactar vendedor", "enviar mensagem", "ver telefone"),
        _PLACE: ("retirada", "retirar na loja", "na loja", "levantamento", "entrega em", "cep"),
    },
    "cs": {
        _OUT: ("vyprodáno", "není skladem", "nedostupné", "momentálně nedostupné"),
        _NOTIFY: ("hlídat dostupnost", "hlídací pes"),
        _IN: ("skladem", "na skladě"),
        _BUY: ("do košíku", "koupit"),
    },
    "sk": {
        _OUT: ("vypredané", "nie je skladom", "nedostupné"),
        _IN: ("skladom", "na sklade"),
        _BUY: ("do košíka", "kúpiť"),
    },
    "hu": {
        _OUT: ("nincs raktáron", "elfogyott", "nem elérhető"),
        _IN: ("raktáron", "készleten"),
        _BUY: ("kosárba", "megveszem"),
    },
    "ro": {
        _OUT: ("stoc epuizat", "indisponibil", "nu este în stoc", "nu este in stoc", "epuizat"),
        _IN: ("în stoc", "in stoc", "disponibil"),
        _BUY: ("adaugă în coș", "adauga in cos", "cumpără"),
    },
    "tr": {
        _OUT: ("stokta yok", "tükendi", "stok yok"),
        _IN: ("stokta var", "stokta"),
        _BUY: ("sepete ekle", "hemen al", "satın al"),
    },
    "el": {
        _OUT: ("εξαντλημένο", "μη διαθέσιμο", "εκτός αποθέματος"),
        _IN: ("άμεσα διαθέσιμο", "διαθέσιμο", "σε απόθεμα"),
        _BUY: ("προσθήκη στο καλάθι", "αγορά"),
    },
    "ru": {
        _OUT: (
            "нет в наличии",
            "распродано",
            "нет на складе",
            "товар закончился",
            "недоступен",
            "отсутствует",
            "снят с продажи",
            "закончился",
            "закончилась",
            "нет в продаже",
        ),
        _NOTIFY: (
            "сообщить о поступлении",
            "уведомить о поступлении",
            "уведомить",
            "сообщить о наличии",
        ),
        _PRE: ("предзаказ", "оформить предзаказ"),
        _BACK: ("под заказ", "ожидается поступление"),
        _IN: ("в наличии", "есть в наличии", "на складе"),
        _BUY: ("в корзину", "купить", "добавить в корзину", "оформить заказ"),
        _CONTACT: (
            "написать продавцу",
            "показать телефон",
            "связаться с продавцом",
            "позвонить",
            "написать сообщение",
            "показать номер",
        ),
        _PLACE: ("самовывоз", "в магазине", "доставка в", "пункт выдачи", "в магазинах"),
    },
    "uk": {
        _OUT: ("немає в наявності", "закінчився", "немає на складі"),
        _NOTIFY: ("повідомити про наявність",),
        _IN: ("в наявності", "є в наявності"),
        _BUY: ("в кошик", "купити", "додати в кошик"),
        _CONTACT: ("написати продавцю", "показати телефон", "зв'язатися з продавцем"),
    },
    "ja": {
        _OUT: (
            "在庫切れ",
            "売り切れ",
            "売切れ",
            "品切れ",
            "在庫なし",
            "在庫がありません",
            "完売",
            "販売終了",
            "取り扱い終了",
            "取扱終了",
            "現在お取り扱いできません",
        ),
        _NOTIFY: ("入荷お知らせ", "再入荷通知", "入荷通知", "再入荷お知らせ", "入荷したら通知"),
        _PRE: ("予約受付中", "予約商品", "予約注文", "予約する", "予約販売"),
        _BACK: ("お取り寄せ", "取り寄せ", "入荷待ち", "入荷予定"),
        _IN: ("在庫あり", "在庫有り", "在庫があります", "即納", "残りわずか", "通常\\d*日"),
        _BUY: (
            "カートに入れる",
            "カートに追加",
            "今すぐ買う",
            "購入する",
            "買い物かごに入れる",
            "購入手続き",
        ),
        _CONTACT: ("チャットで交渉", "出品者に連絡", "問い合わせ", "お問い合わせ", "コメントする"),
        _PLACE: ("店舗", "店頭", "受け取り", "配送先", "郵便番号"),
    },
    "ko": {
        _OUT: (
            "품절",
            "일시품절",
            "재고 없음",
            "재고없음",
            "매진",
            "판매종료",
            "구매불가",
            "판매 종료",
        ),
        _NOTIFY: ("재입고 알림", "입고 알림", "재입고알림", "입고알림"),
        _PRE: ("예약판매", "사전예약", "예약 판매", "사전 예약", "예약구매"),
        _BACK: ("입고 예정", "입고예정", "주문 후 제작"),
        _IN: ("재고 있음", "재고있음", "구매 가능", "구매가능", "판매중", "즉시 출고"),
        _BUY: ("장바구니 담기", "장바구니", "바로구매", "바로 구매", "구매하기"),
        _CONTACT: ("채팅하기", "연락하기", "문의하기", "판매자 문의", "전화하기"),
        _PLACE: ("매장", "픽업", "배송지"),
    },
    "zh": {
        _OUT: (
            "缺货",
            "缺貨",
            "售罄",
            "已售完",
            "無庫存",
            "无库存",
            "无货",
            "無貨",
            "暂时缺货",
            "暫時缺貨",
            "已售罄",
            "已下架",
            "補貨中",
            "补货中",
            "已售完",
        ),
        _NOTIFY: ("到货通知", "到貨通知", "补货提醒", "補貨通知", "到货提醒", "貨到通知"),
        _PRE: ("预售", "預售", "预购", "預購", "预订", "預訂"),
        _BACK: ("需订货", "需訂貨", "需预订", "需預訂"),
        _IN: ("有货", "有貨", "现货", "現貨", "库存充足", "庫存充足", "有库存", "有庫存"),
        _BUY: (
            "加入购物车",
            "加入購物車",
            "立即购买",
            "立即購買",
            "马上购买",
            "馬上購買",
            "购买",
            "購買",
        ),
        _CONTACT: ("联系卖家", "聯絡賣家", "聊一聊", "立即联系", "聯繫賣家", "联系商家"),
        _PLACE: ("门店", "門市", "自提", "配送至", "取货", "取貨"),
    },
    "he": {
        _OUT: ("אזל מהמלאי", "אזל במלאי", "לא במלאי", "חסר במלאי", "אינו זמין", "המוצר אזל", "אזל"),
        _NOTIFY: ("עדכנו אותי", "עדכן אותי", "הודיעו לי", "הודע לי"),
        _PRE: ("הזמנה מוקדמת", "טרום הזמנה", "הזמנה מראש"),
        _BACK: ("בהזמנה מיוחדת",),
        _IN: ("במלאי", "זמין במלאי", "זמין"),
        _BUY: ("הוסף לסל", "הוספה לסל", "הוסף לעגלה", "קנה עכשיו", "לקנייה", "קנו עכשיו"),
        _CONTACT: ("צור קשר", "שלח הודעה", "הצג מספר טלפון", "הצג טלפון", "צרו קשר"),
        _PLACE: ("איסוף", "בחנות", "משלוח ל"),
    },
}

BUY_MARKS = re.compile(
    r"add[\s_-]*to[\s_-]*(cart|basket|bag|trolley)|addtocart|buy[\s_-]*(now|button|box)|btn-?buy|"
    r"in den warenkorb|warenkorb|ajouter au panier|añadir al carrito|agregar al carrito|"
    r"aggiungi al carrello|do koszyka|в корзину|do košíku|kosárba|adicionar ao carrinho|"
    r"comprar|kaufen|acheter|köp|kjøp|køb|in winkelwagen|sepete ekle|ostoskoriin|cumpără|"
    r"add to order|purchase",
    re.IGNORECASE,
)
"""Buy buttons by class, id or label, and buy links by address (`addtocart`, `btn-buy`,
`/warenkorb/add`): the marks every language's shop software uses."""

_CJK = re.compile(r"[\u0590-\u05ff\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def _phrase(text: str) -> str:
    """A phrase as a pattern: separators as any run of spaces or hyphens."""
    words = text.split() if "\\d" in text else [re.escape(w) for w in text.split()]
    return r"[\s-]+".join(words)


@cache
def _pattern(signal: str, languages: bool) -> re.Pattern[str]:
    """Every phrase of the signal; whole words where the script has them (`available` is not
    in `unavailable`, `osta` not in `ostatni`)."""
    phrases = sorted(
        {
            p
            for lang, table in _LEXICON.items()
            if languages or lang == "en"
            for p in table.get(signal, ())
        },
        key=len,
        reverse=True,
    )
    cjk = [_phrase(p) for p in phrases if _CJK.match(p)]
    spaced = [_phrase(p) for p in phrases if not _CJK.match(p)]
    parts = [rf"(?<!\w)(?:{'|'.join(spaced)})(?!\w)"] if spaced else []
    parts += [f"(?:{'|'.join(cjk)})"] if cjk else []
    return re.compile("|".join(parts) or "(?!)", re.IGNORECASE)


def _says(signal: str, text: str) -> bool:
    return bool(_pattern(signal, rules.on(LANGUAGES)).search(text))


def statement(text: str) -> Availability | None:
    """The stock a label states (`Sold out` -> OutOfStock, `Vorbestellbar` -> PreOrder), or None."""
    if not text:
        return None
    if rules.on(ORDERS) and _says(_BACK, text):
        return Availability.BACK_ORDER
    if rules.on(ORDERS) and _says(_PRE, text):
        return Availability.PRE_ORDER
    if _says(_OUT, text) or _says(_NOTIFY, text):
        return Availability.OUT_OF_STOCK
    if _says(_IN, text):
        return Availability.IN_STOCK
    return None


def action(text: str) -> Action | None:
    """What a button or link labelled `text` offers, or None when it offers none of these."""
    if not text:
        return None
    for signal, found in (
        (_NOTIFY, Action.NOTIFY),
        (_BACK, Action.BACK_ORDER),
        (_PRE, Action.PRE_ORDER),
        (_OUT, Action.SOLD_OUT),
        (_BUY, Action.BUY),
        (_CONTACT, Action.CONTACT),
    ):
        if _says(signal, text) and (rules.on(ORDERS) or signal not in (_BACK, _PRE)):
            return found
    return None


def buys(text: str) -> bool:
    """The text names a buy action in one of the lexicon's languages (`In den Warenkorb`)."""
    return _says(_BUY, text)


def about_store_or_delivery(text: str) -> bool:
    """The text is about a store, pick-up or delivery (`Available for pick-up`, `Im Markt
    verfügbar`): not the product's stock."""
    return _says(_PLACE, text)


__all__ = [
    "BUY_MARKS",
    "LANGUAGES",
    "ORDERS",
    "Action",
    "about_store_or_delivery",
    "action",
    "buys",
    "statement",
]
