"""Hand-judged relevance for the sample catalog: the source of `qrels.jsonl`.

Every judgment below was made by reading the 150 products of `catalog.jsonl` (title, description,
category, brand, attributes), never from search results. Grades (see `workers.relevance`):

    3  exact match: what the query asks for (right kind of product, stated size/brand/need met)
    2  relevant: meets the need but differs in a secondary way (other size, close substitute)
    1  related: useful next to the answer or a weak substitute; does not answer the query alone
    0  not relevant: written out only for tempting-but-wrong products (hard negatives)

Products not listed for a query are unjudged and count as not relevant. Binary metrics count
grade >= 2 as relevant. Availability (OutOfStock, PreOrder) does not change a grade.

Run `python data/sample/make_qrels.py` to rewrite `qrels.jsonl`; `--check` only compares.
Folds are assigned here, stratified by kind (see `assign_folds`).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

QRELS_PATH = Path(__file__).with_name("qrels.jsonl")

KINDS = ("keyword", "question", "brand", "attribute", "misspelling", "category", "no_answer")
"""keyword: 1-3 words naming a product type; question: a sentence or long phrase describing a
need; brand: names a brand; attribute: a product type with a size, spec or property; misspelling:
a misspelled or variant-spelled keyword; category: a department word; no_answer: nothing in the
catalog meets the need (no grade >= 2; kept to test empty and low results)."""


def _ids(first: int, last: int, grade: int) -> dict[str, int]:
    """GA-<first>..GA-<last> inclusive, all with one grade (used for brand and category queries)."""
    return {f"GA-{n}": grade for n in range(first, last + 1)}


def _g(table: str) -> dict[str, int]:
    """`_g("10001:3 10042:0")` -> {"GA-10001": 3, "GA-10042": 0}: keeps the table short."""
    pairs = [item.split(":") for item in table.split()]
    grades = {f"GA-{number}": int(grade) for number, grade in pairs}
    if len(grades) != len(pairs):
        raise ValueError(f"a product is judged twice in {table!r}")
    return grades


TOMATO_FEED = _g("10001:3 10002:3 10003:3 10007:1 10013:1 10042:0 10046:0")
SECATEURS = _g("10064:3 10065:3 10066:1 10071:1 10075:1")

JUDGMENTS: dict[str, tuple[str, dict[str, int]]] = {
    # ---- keyword -------------------------------------------------------------------------
    "tomato feed": ("keyword", TOMATO_FEED),
    "slug pellets": (
        "keyword",
        _g("10125:3 10123:2 10121:1 10122:1 10124:1 10016:0 10029:0"),
    ),
    "secateurs": ("keyword", SECATEURS),
    "garden hose": (
        "keyword",
        _g("10095:3 10096:3 10105:2 10093:1 10094:1 10097:1 10089:0"),
    ),
    "chicken feed": (
        "keyword",
        _g("10106:3 10107:3 10108:2 10109:2 10110:1 10111:1 10118:0 10016:0"),
    ),
    "compost bin": ("keyword", _g("10026:3 10030:2 10025:1 10027:1 10031:0")),
    "lawn seed": ("keyword", _g("10055:3 10037:1 10053:0")),
    "chainsaw": ("keyword", _g("10082:3 10083:3 10071:1 10087:1")),
    "fleece": ("keyword", _g("10141:3 10142:3 10143:2 10144:1 10029:0 10123:0")),
    "bird seed": ("keyword", _g("10116:3 10117:2 10111:1 10109:1 10146:0")),
    "water butt": ("keyword", _g("10100:3 10091:1 10089:0")),
    "greenhouse heater": ("keyword", _g("10148:3 10149:1 10150:0")),
    "potting compost": (
        "keyword",
        _g(
            "10031:3 10032:3 10034:3 10035:3 10036:2 10033:1 10045:1 10041:1 10043:1 10042:1 10023:1 10039:1 10020:0"
        ),
    ),
    "rat trap": ("keyword", _g("10130:3 10131:2 10127:0 10126:0")),
    "leaf blower": ("keyword", _g("10085:3 10070:1 10028:0")),
    "insect netting": ("keyword", _g("10145:3 10146:1 10141:1 10147:0")),
    # ---- question (the eight lines of queries.txt are all here) ---------------------------
    "what can I use to stop slugs eating my hostas?": (
        "question",
        _g("10121:3 10122:3 10123:3 10125:3 10124:2 10028:0"),
    ),
    "how do I stop slugs eating my lettuces without harming hedgehogs": (
        "question",
        _g("10121:3 10122:3 10123:3 10124:2 10125:2 10146:0 10051:0"),
    ),
    "what should I feed my laying hens": (
        "question",
        _g("10106:3 10107:3 10110:2 10109:1 10111:1 10108:0 10118:0 10016:0"),
    ),
    "frost protection for tender plants over winter": (
        "question",
        _g(
            "10142:3 10143:3 10141:2 10148:2 10140:2 10144:1 10136:1 10137:1 10139:1 10149:1 10009:0 10147:0"
        ),
    ),
    "drip irrigation kit for raised beds": (
        "question",
        _g("10091:3 10092:2 10099:1 10093:1 10094:1 10100:1 10043:0 10104:0"),
    ),
    "peat-free compost for filling a raised vegetable bed": (
        "question",
        _g("10043:3 10031:2 10032:2 10037:1 10038:1 10020:1 10021:1 10034:1 10036:0 10033:0"),
    ),
    "how long does the mower battery take to charge": (
        "question",
        _g("10088:3 10087:3 10077:2 10076:1 10078:0"),
    ),
    "is the tomato feed harmful if swallowed": (
        "question",
        _g("10001:3 10002:2 10003:2 10046:0"),
    ),
    "how do I get rid of aphids on my roses without chemicals": (
        "question",
        _g("10135:3 10128:2 10129:2 10126:1 10010:0"),
    ),
    "what can I use to protect my carrots from carrot fly": (
        "question",
        _g("10145:3 10050:2 10141:2 10049:0"),
    ),
    "how can I water my plants while I'm on holiday": (
        "question",
        _g("10092:3 10103:3 10099:2 10091:2 10093:1 10094:1 10102:0"),
    ),
    "what should I feed my lawn in autumn": (
        "question",
        _g("10009:3 10090:1 10013:1 10008:0"),
    ),
    "I need something to clear brambles and nettles on a rough paddock": (
        "question",
        _g("10081:3 10080:1 10078:1 10101:0"),
    ),
    "how do I make my own compost from kitchen scraps": (
        "question",
        _g("10026:3 10030:3 10027:2 10025:2 10084:1 10031:0"),
    ),
    "what feed is best for blueberries in pots": (
        "question",
        _g("10011:3 10036:2 10100:1 10022:0 10017:0"),
    ),
    "which tool should I use to prune thick branches on my apple tree": (
        "question",
        _g("10066:3 10071:3 10064:1 10065:1 10082:1 10083:1 10127:0"),
    ),
    "how do I stop cats digging in my seedbeds": (
        "question",
        _g("10133:3 10146:1 10132:0"),
    ),
    # ---- brand ---------------------------------------------------------------------------
    "terravita": (
        "brand",
        _g("10001:3 10002:3 10007:3 10010:3 10011:3 10014:3 10003:0"),
    ),
    "voltmark": (
        "brand",
        _g("10076:3 10077:3 10079:3 10080:3 10083:3 10087:3 10088:3 10078:0"),
    ),
    "hedgerow organics": (
        "brand",
        _g(
            "10003:3 10004:3 10005:3 10012:3 10013:3 10016:3 10017:3 10023:3 10027:3 10029:3 10107:0"
        ),
    ),
    "copperleaf secateurs": (
        "brand",
        _g("10064:3 10065:3 10066:1 10071:1 10072:1 10075:1 10124:0"),
    ),
    "brookline hose": (
        "brand",
        _g("10093:3 10094:3 10095:3 10096:3 10105:3 10100:1"),
    ),
    "ridgeback petrol": (
        "brand",
        _g("10078:3 10081:3 10086:3 10082:1 10084:1 10085:1 10089:1 10090:1"),
    ),
    "naturshield": (
        "brand",
        _g("10121:3 10122:3 10127:3 10128:3 10129:3 10135:3 10125:0"),
    ),
    "glasshaven greenhouse": (
        "brand",
        _g("10136:3 10137:3 10139:3 10138:2 10140:1 10148:1 10149:1 10150:1 10147:0"),
    ),
    "fenwick multi purpose compost": (
        "brand",
        _g("10031:3 10032:3 10033:1 10034:1 10035:1 10036:1 10043:1"),
    ),
    "pasture gold layers pellets": (
        "brand",
        _g("10106:3 10107:3 10109:1 10110:1 10108:0"),
    ),
    "old barn manure": (
        "brand",
        _g("10018:3 10019:3 10024:3 10020:1 10021:1 10022:1 10028:1 10016:1"),
    ),
    "frostguard": ("brand", {**_ids(10141, 10147, 3), **_g("10148:0")}),
    # ---- attribute / size ----------------------------------------------------------------
    "5 l watering can": ("attribute", _g("10102:2 10013:0 10001:0")),
    "50 m hose": (
        "attribute",
        _g("10095:2 10096:2 10094:1 10093:1 10105:1 10091:0"),
    ),
    "30 m hose": ("attribute", _g("10096:3 10094:2 10095:2 10093:1 10105:1")),
    "20 kg layers pellets": ("attribute", _g("10106:3 10107:3 10109:0 10118:0")),
    "organic fertiliser for tomatoes": (
        "attribute",
        _g(
            "10003:3 10007:2 10004:1 10005:1 10013:1 10016:1 10017:1 10029:1 10001:1 10002:1 10042:0"
        ),
    ),
    "fleece 30 gsm": ("attribute", _g("10142:3 10141:2 10143:1")),
    "36v cordless lawn mower": (
        "attribute",
        _g("10076:3 10077:3 10078:1 10087:1 10088:1 10083:0"),
    ),
    "18v battery 4ah": ("attribute", _g("10087:3 10077:2 10088:1 10099:0")),
    "bypass secateurs 20 mm": ("attribute", _g("10064:3 10065:1 10066:1")),
    "peat free compost 50 l": (
        "attribute",
        _g("10031:3 10032:3 10043:1 10020:1 10036:1 10033:1 10022:1 10018:0"),
    ),
    "greenhouse 6x8": ("attribute", _g("10136:3 10137:3 10138:1 10139:1")),
    "2 kw greenhouse heater": ("attribute", _g("10148:3 10149:1")),
    "wildflower seed 100 m2": ("attribute", _g("10054:3 10053:2 10055:0")),
    # ---- misspelling ---------------------------------------------------------------------
    "secatuers": ("misspelling", SECATEURS),
    "hoze pipe": (
        "misspelling",
        _g("10095:3 10096:3 10105:2 10093:1 10094:1 10097:1 10091:0"),
    ),
    "tomatoe feed": ("misspelling", TOMATO_FEED),
    "wheelbarow": ("misspelling", _g("10073:3 10096:0")),
    "strimer": ("misspelling", _g("10080:3 10081:2 10079:0")),
    "polytunel": ("misspelling", _g("10138:3 10144:1 10137:1")),
    "nemotodes for slugs": (
        "misspelling",
        _g("10121:3 10122:3 10123:1 10124:1 10125:1"),
    ),
    "layers pelets": (
        "misspelling",
        _g("10106:3 10107:3 10109:1 10110:1 10108:0 10118:0"),
    ),
    "compost accelarator": ("misspelling", _g("10025:3 10026:1 10027:1")),
    "ericacious compost": ("misspelling", _g("10036:3 10011:1 10022:0")),
    "chaisaw": ("misspelling", _g("10082:3 10083:3 10071:1")),
    "sulfate of potash": ("misspelling", _g("10007:3 10001:1")),
    "vermiculte": ("misspelling", _g("10040:3 10039:1 10023:0")),
    # ---- category ------------------------------------------------------------------------
    "fertiliser": (
        "category",
        {
            **_ids(10001, 10014, 3),
            **_g("10013:2 10015:2 10016:2 10017:2 10029:2 10018:1 10019:1 10024:1 10023:1 10025:0"),
        },
    ),
    "animal feed": (
        "category",
        {**_ids(10106, 10119, 3), **_g("10110:2 10120:2 10003:0 10008:0")},
    ),
    "pest control": (
        "category",
        {**_ids(10121, 10135, 3), **_g("10145:2 10146:2 10050:1")},
    ),
    "power tools": (
        "category",
        {**_ids(10076, 10090, 3), **_g("10087:2 10088:2")},
    ),
    "irrigation": (
        "category",
        {
            **_ids(10091, 10105, 3),
            **_g("10095:2 10096:2 10097:2 10100:2 10102:2 10103:2 10105:2"),
            **_g("10089:0"),
        },
    ),
    "seeds": (
        "category",
        {**_ids(10046, 10060, 3), **_g("10057:2 10058:2 10033:1 10116:0 10117:0")},
    ),
    "hand tools": ("category", {**_ids(10061, 10075, 3), **_g("10073:2 10075:2")}),
    "greenhouses": (
        "category",
        _g("10136:3 10137:3 10139:3 10138:2 10140:1 10147:1 10148:1 10149:1 10150:1 10104:1"),
    ),
    "manure": (
        "category",
        _g("10016:3 10017:3 10018:3 10019:3 10024:3 10029:3 10022:1 10023:1"),
    ),
    "soil": (
        "category",
        _g("10037:3 10038:3 10020:2 10021:2 10043:2 10034:1 10035:1 10031:1 10015:1 10044:1"),
    ),
    # ---- no good answer: nothing graded >= 2 (excluded from metric means) ------------------
    "lawn mower spark plug": ("no_answer", _g("10078:1 10086:0")),
    "dog food": ("no_answer", _g("10115:0 10114:0 10004:0")),
    "christmas tree": ("no_answer", _g("10142:0 10134:0")),
    "how do I fix a punctured paddling pool": ("no_answer", _g("10138:0 10124:0")),
    "cat food": ("no_answer", _g("10133:0 10111:0")),
    "bbq charcoal": ("no_answer", _g("10045:0")),
    "pond pump": ("no_answer", _g("10100:0 10104:0")),
}


def query_hash(query: str) -> str:
    """A stable hash of the query text (sha256 of its UTF-8 bytes, hex)."""
    return hashlib.sha256(query.encode("utf-8")).hexdigest()


def assign_folds(kinds: dict[str, str]) -> dict[str, int]:
    """Two folds, stratified by kind: kinds in `KINDS` order, and within each kind the queries
    sorted by `query_hash`, are dealt alternately to fold 0 and fold 1 (the alternation runs on
    across kinds), so each kind and the whole set are split as evenly as the counts allow."""
    ordered = [
        q
        for kind in KINDS
        for q in sorted((q for q, k in kinds.items() if k == kind), key=query_hash)
    ]
    return {q: i % 2 for i, q in enumerate(ordered)}


def render() -> str:
    """The qrels as JSONL text: sorted by query, then product id."""
    folds = assign_folds({q: kind for q, (kind, _) in JUDGMENTS.items()})
    lines = [
        json.dumps(
            {"query": q, "product_id": pid, "grade": grade, "kind": kind, "fold": folds[q]},
            ensure_ascii=False,
        )
        for q, (kind, grades) in sorted(JUDGMENTS.items())
        for pid, grade in sorted(grades.items())
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        same = QRELS_PATH.exists() and QRELS_PATH.read_text(encoding="utf-8") == text
        print("qrels.jsonl is up to date" if same else "qrels.jsonl differs: run make_qrels.py")
        return 0 if same else 1
    QRELS_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {QRELS_PATH} ({len(JUDGMENTS)} queries, {text.count(chr(10))} judgments)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
