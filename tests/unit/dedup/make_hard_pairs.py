"""Writes `hard_records.jsonl` and `hard_pairs.jsonl`: hard duplicate and variant pairs.

    .venv/bin/python tests/unit/dedup/make_hard_pairs.py

Where the texts come from (nothing is downloaded):
- `FAMILIES` below: product titles, descriptions and attributes written by hand for this set
  (apparel, jewellery, electronics, cables, kitchen, paint, cosmetics, food, furniture, bedding,
  sport, car parts), in the patterns shops use for sibling variants: the same copy in another
  colour or finish (common, gemstone, wine, metal, spice and food names, and names in no list),
  another model or series name, men's/women's, boys/girls, his/hers, male/female connectors,
  one other size or capacity token. None of them is in the sample catalog.
- `data/sample/catalog.jsonl` (the project's synthetic sample catalog): its titles as short
  title-only records, and some of its full records, copied with perturbations; a few of its
  products given invented colour/finish siblings.

Every copy is made by a deterministic function of the original (seeded by its id): case,
punctuation, whitespace, HTML entities (also mis-cased ones such as `&Amp;`, double-escaped
ones, numeric ones), markup (tags, mis-cased tags, escaped markup), tracking parameters added
to its URLs, an
inserted boilerplate sentence, a reworded description (a few words swapped for synonyms), and
a second source's rewording of the title (brand in front, units spelled out, "&" for "and").

Labels: a copy of X is a duplicate of X; a sibling variant (or a copy of one) is not. A pair may
name `before` and `between`: records the deduplicator sees before `a`, and between `a` and `b`
(a sibling next to the original, to check that a copy is linked to its true original). `group`
is the family: folds keep a family together. `split` is "holdout" for about a quarter of the
families, chosen by hash before any rule was tuned: `eval_dedup_cv.py` scores it apart.
`round` says when a pair was written: 1 before the rules were tuned; 2 (`FAMILIES_2`, new
copy kinds) after, to test them, measured before any change for it; 3 (`build_reworded`:
original and siblings as another seller titles them) after the cross-validation showed that
round 1 could not tell the named-feature rules from the one-word rule.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
CATALOG = HERE.parents[2] / "data" / "sample" / "catalog.jsonl"

Record = dict[str, Any]
Pair = dict[str, Any]
Sub = tuple[str, str]

# (case, substitutions old -> new applied to title, description and attribute values)
Variant = tuple[str, list[Sub]]

FAMILIES: list[dict[str, Any]] = [
    {
        "key": "tee",
        "brand": "Northfield Apparel",
        "category": "Clothing > T-Shirts",
        "title": "Men's Classic Crew Neck T-Shirt, Sapphire, Size M",
        "description": (
            "A midweight cotton tee with a ribbed crew neck and taped shoulder seams. Cut for a "
            "regular fit that keeps its shape wash after wash. Pre-shrunk, so the size you buy "
            "is the size it stays. Machine wash at 30 degrees and tumble dry low."
        ),
        "attributes": {"material": "100% organic cotton", "fit": "regular", "size": "M"},
        "variants": [
            ("colour (gemstone)", [("Sapphire", "Emerald")]),
            ("gendered", [("Men's", "Women's")]),
            ("size token", [("Size M", "Size L"), ("M", "L")]),
            ("colour (uncommon)", [("Sapphire", "Teal")]),
        ],
    },
    {
        "key": "belt",
        "brand": "Harlow & Finch",
        "category": "Accessories > Belts",
        "title": "Women's Leather Belt with Brass Buckle, Burgundy",
        "description": (
            "Full-grain leather belt, 3 cm wide, with a solid brass roller buckle and five "
            "punched holes. The edges are hand-painted and burnished. It softens and darkens "
            "with wear. Comes in a cotton dust bag, ready to give as a gift."
        ),
        "attributes": {"width": "3 cm", "material": "full-grain leather"},
        "variants": [
            ("colour (wine)", [("Burgundy", "Merlot")]),
            ("colour (two words)", [("Burgundy", "Cognac Brown")]),
            ("colour (metal)", [("Brass Buckle", "Nickel Buckle"), ("brass", "nickel")]),
            ("gendered", [("Women's", "Men's")]),
        ],
    },
    {
        "key": "beanie",
        "brand": "Fellside Knitwear",
        "category": "Accessories > Hats",
        "title": "Cable Knit Beanie Hat – Mustard",
        "description": (
            "Knitted in a chunky cable stitch from a soft wool and recycled nylon blend, with a "
            "deep turn-up cuff that keeps your ears warm. One size fits most adults. Hand wash "
            "cold and dry flat to keep its shape."
        ),
        "attributes": {"material": "60% wool, 40% recycled nylon", "size": "one size"},
        "variants": [
            ("colour (spice)", [("Mustard", "Paprika")]),
            ("colour (spice)", [("Mustard", "Cinnamon")]),
            ("colour (uncommon)", [("Mustard", "Ochre")]),
        ],
    },
    {
        "key": "phone",
        "brand": "Orbit Mobile",
        "category": "Electronics > Phones",
        "title": "Orbit X5 Smartphone 128GB, Midnight Black",
        "description": (
            "A 6.1-inch OLED display, a 50 MP main camera with optical stabilisation and a "
            "battery that lasts a full day of heavy use. Face unlock and an in-display "
            "fingerprint reader. Dual SIM with eSIM support. Charger sold separately."
        ),
        "attributes": {"display": "6.1 in OLED", "camera": "50 MP"},
        "variants": [
            ("size token (storage)", [("128GB", "256GB")]),
            ("model name", [("Orbit X5", "Orbit X6")]),
            ("series name", [("X5 Smartphone", "X5 Pro Smartphone")]),
            ("colour (common)", [("Midnight Black", "Midnight Green")]),
            ("colour (two words)", [("Midnight Black", "Champagne Gold")]),
        ],
    },
    {
        "key": "laptop",
        "brand": "Aerolite",
        "category": "Electronics > Laptops",
        "title": "Aero 14 Laptop, 16 GB RAM, 512 GB SSD, Space Grey",
        "description": (
            "A thin aluminium laptop with a 14-inch 2.8K display, a backlit keyboard and a "
            "glass trackpad. Two USB-C ports with charging and a full-size HDMI port. Up to "
            "14 hours of video playback on one charge."
        ),
        "attributes": {"ram": "16 GB", "storage": "512 GB SSD"},
        "variants": [
            ("size token (storage)", [("512 GB SSD", "1 TB SSD")]),
            ("model name", [("Aero 14 Laptop", "Aero 16 Laptop")]),
            ("colour (metal)", [("Space Grey", "Silver")]),
        ],
    },
    {
        "key": "usbc",
        "brand": "Linkwell",
        "category": "Electronics > Cables",
        "title": "USB-C Male to Female Extension Cable 1 m",
        "description": (
            "Extends a USB-C cable or a USB-C hub by one metre without losing speed: USB 3.2 "
            "Gen 2 data at 10 Gbps, 4K video at 60 Hz and up to 100 W charging. Braided nylon "
            "jacket and aluminium plugs."
        ),
        "attributes": {"length": "1 m", "data": "10 Gbps"},
        "variants": [
            ("connector gender", [("Male to Female", "Male to Male")]),
            ("connector gender", [("Male to Female", "Female to Female")]),
            ("size token (length)", [("1 m", "2 m"), ("one metre", "two metres")]),
        ],
    },
    {
        "key": "jack",
        "brand": "Linkwell",
        "category": "Electronics > Audio",
        "title": "3.5 mm Jack Male-to-Female Stereo Adapter, Gold-Plated",
        "description": (
            "A short stereo adapter with gold-plated contacts for a clean, low-noise signal. "
            "Fits phones, laptops, car stereos and headphones with a 3.5 mm plug."
        ),
        "attributes": {"connector": "3.5 mm TRS"},
        "variants": [
            ("connector gender", [("Male-to-Female", "Female-to-Male")]),
            ("connector gender", [("Male-to-Female", "Male-to-Male")]),
            (
                "colour (metal)",
                [("Gold-Plated", "Nickel-Plated"), ("gold-plated", "nickel-plated")],
            ),
        ],
    },
    {
        "key": "hdmi",
        "brand": "Linkwell",
        "category": "Electronics > Cables",
        "title": "HDMI 2.1 Cable 8K Braided 2 m",
        "description": (
            "Certified ultra high speed HDMI cable for 8K at 60 Hz and 4K at 120 Hz with eARC "
            "and variable refresh rate. Braided jacket, metal shells and gold-plated contacts."
        ),
        "attributes": {"length": "2 m"},
        "variants": [
            ("size token (length)", [("2 m", "3 m")]),
            ("model name", [("HDMI 2.1", "HDMI 2.0")]),
            ("model name", [("8K", "4K")]),
        ],
    },
    {
        "key": "glasses",
        "brand": "Clearwater Crystal",
        "category": "Home > Glassware",
        "title": "Crystal Red Wine Glasses, Set of 4",
        "description": (
            "Lead-free crystal glasses with a wide bowl that lets full-bodied wines breathe. "
            "Laser-cut rims and long, pulled stems. Dishwasher safe on a gentle cycle. Each "
            "glass holds 580 ml."
        ),
        "attributes": {"capacity": "580 ml"},
        "variants": [
            ("size token (pack)", [("Set of 4", "Set of 6")]),
            ("colour (wine)", [("Red Wine", "White Wine")]),
        ],
    },
    {
        "key": "kettle",
        "brand": "Kestrel Home",
        "category": "Kitchen > Kettles",
        "title": "Cordless Electric Kettle 1.7 L, Brushed Chrome",
        "description": (
            "Boils a full 1.7 litres in under four minutes, with a rapid-boil 3 kW element, a "
            "removable limescale filter and a 360-degree base. Auto shut-off and boil-dry "
            "protection. Water window on both sides."
        ),
        "attributes": {"power": "3 kW"},
        "variants": [
            ("colour (metal)", [("Brushed Chrome", "Brushed Copper")]),
            ("finish", [("Brushed Chrome", "Polished Chrome")]),
            ("size token (capacity)", [("1.7 L", "1.2 L"), ("1.7 litres", "1.2 litres")]),
        ],
    },
    {
        "key": "toaster",
        "brand": "Kestrel Home",
        "category": "Kitchen > Toasters",
        "title": "4-Slice Toaster with Defrost, Matte Pistachio",
        "description": (
            "Four wide slots for thick bread and bagels, six browning levels, defrost, reheat "
            "and cancel buttons, and a pull-out crumb tray. The high-lift lever brings small "
            "slices up out of the slot."
        ),
        "attributes": {"power": "1800 W"},
        "variants": [
            ("colour (food)", [("Pistachio", "Vanilla")]),
            ("finish", [("Matte Pistachio", "Gloss Pistachio")]),
            ("size token (count)", [("4-Slice", "2-Slice"), ("Four wide", "Two wide")]),
        ],
    },
    {
        "key": "casserole",
        "brand": "Fonderie Martel",
        "category": "Kitchen > Cookware",
        "title": "Enamelled Cast Iron Casserole Dish 24 cm, Cherry",
        "description": (
            "A heavy cast iron casserole with a smooth enamel interior that needs no seasoning. "
            "Holds heat evenly for slow braises and bakes bread with a crisp crust. Suitable for "
            "all hobs including induction, and ovens up to 250 degrees."
        ),
        "attributes": {"diameter": "24 cm", "capacity": "4.2 L"},
        "variants": [
            ("colour (food)", [("Cherry", "Plum")]),
            ("colour (spice)", [("Cherry", "Saffron")]),
            ("size token (diameter)", [("24 cm", "28 cm"), ("4.2 L", "6.7 L")]),
        ],
    },
    {
        "key": "paint",
        "brand": "Hallam Paints",
        "category": "DIY > Paint",
        "title": "Interior Wall Paint Matt Emulsion 2.5 L – Claret",
        "description": (
            "A wipeable, low-odour matt emulsion for walls and ceilings. Covers up to 35 square "
            "metres per 2.5 litres in two coats and is touch dry in two hours. Wash brushes and "
            "rollers in water."
        ),
        "attributes": {"volume": "2.5 L", "finish": "matt"},
        "variants": [
            ("colour (wine)", [("Claret", "Bordeaux")]),
            ("finish", [("Matt Emulsion", "Silk Emulsion"), ("matt", "silk")]),
            ("colour (uncommon)", [("Claret", "Sage")]),
            ("size token (volume)", [("2.5 L", "5 L"), ("2.5 litres", "5 litres")]),
        ],
    },
    {
        "key": "nailpolish",
        "brand": "Lumière Beauty",
        "category": "Beauty > Nails",
        "title": "Gel Effect Nail Polish 12 ml – Rosé",
        "description": (
            "High-shine colour with a gel-like finish and no lamp needed. A wide brush covers "
            "each nail in one stroke, and two coats last up to ten days. Vegan and cruelty free."
        ),
        "attributes": {"volume": "12 ml"},
        "variants": [
            ("colour (wine)", [("Rosé", "Champagne")]),
            ("colour (spice)", [("Rosé", "Cinnamon")]),
            ("colour (uncommon)", [("Rosé", "Coral")]),
        ],
    },
    {
        "key": "lipstick",
        "brand": "Lumière Beauty",
        "category": "Beauty > Lips",
        "title": "Satin Lipstick No. 12 Espresso",
        "description": (
            "A creamy satin lipstick with rich colour in one swipe, enriched with shea butter "
            "and vitamin E so lips stay soft all day."
        ),
        "attributes": {"weight": "3.5 g"},
        "variants": [
            ("colour (food)", [("Espresso", "Mocha")]),
            ("model name", [("No. 12", "No. 14")]),
            ("finish", [("Satin Lipstick", "Matte Lipstick")]),
        ],
    },
    {
        "key": "pendant",
        "brand": "Wren & Co",
        "category": "Jewellery > Necklaces",
        "title": "Sterling Silver Birthstone Pendant Necklace – Amethyst",
        "description": (
            "A round-cut birthstone in a four-claw setting on an 18-inch trace chain with a "
            "spring ring clasp. Hallmarked. Presented in a gift box with a card explaining the "
            "meaning of the stone."
        ),
        "attributes": {"chain_length": "18 in"},
        "variants": [
            ("colour (gemstone)", [("Amethyst", "Topaz")]),
            ("colour (gemstone)", [("Amethyst", "Opal")]),
            ("colour (metal)", [("Sterling Silver", "Sterling Platinum")]),
        ],
    },
    {
        "key": "studs",
        "brand": "Wren & Co",
        "category": "Jewellery > Earrings",
        "title": "Stud Earrings 6 mm, Pearl",
        "description": (
            "Classic round studs on sterling silver posts with butterfly backs. Light enough "
            "for all-day wear. Gift boxed."
        ),
        "attributes": {},
        "variants": [
            ("colour (gemstone)", [("Pearl", "Onyx")]),
            ("size token (diameter)", [("6 mm", "8 mm")]),
        ],
    },
    {
        "key": "ring",
        "brand": "Wren & Co",
        "category": "Jewellery > Rings",
        "title": "Solitaire Engagement Ring, Ruby, Size N",
        "description": (
            "A single oval stone held high in a six-claw crown setting on a slim band of 9ct "
            "white gold. Ring sizes follow the UK alphabetical scale. Free resizing within 30 "
            "days of purchase."
        ),
        "attributes": {"metal": "9ct white gold"},
        "variants": [
            ("colour (gemstone)", [("Ruby", "Jade")]),
            ("size token (ring)", [("Size N", "Size P")]),
        ],
    },
    {
        "key": "watch",
        "brand": "Halden",
        "category": "Watches",
        "title": "Men's Aviator Chronograph Watch 42 mm, Gunmetal",
        "description": (
            "A pilot's chronograph with a 42 mm case, luminous hands, a tachymeter bezel and a "
            "quartz movement with a three-year battery. Water resistant to 100 m. Supplied on a "
            "brown leather strap with a quick-release pin."
        ),
        "attributes": {"case": "42 mm", "water_resistance": "10 bar"},
        "variants": [
            ("colour (metal)", [("Gunmetal", "Titanium")]),
            ("size token (diameter)", [("42 mm", "38 mm")]),
            ("gendered", [("Men's", "Women's")]),
        ],
    },
    {
        "key": "sofa",
        "brand": "Oakhurst Living",
        "category": "Furniture > Sofas",
        "title": "Harrow 3-Seater Sofa in Velvet, Olive",
        "description": (
            "Deep seats with pocket-sprung cushions, feather-wrapped back cushions and turned "
            "solid beech legs. The velvet is stain-resistant and soft to the touch. Delivered "
            "fully assembled to the room of your choice."
        ),
        "attributes": {"fabric": "plush velvet", "legs": "solid beech"},
        "variants": [
            ("colour (spice)", [("Olive", "Saffron")]),
            ("colour (two words)", [("Olive", "Dusky Pink")]),
            ("size token (seats)", [("3-Seater", "2-Seater")]),
            ("series name", [("Harrow", "Kelso")]),
        ],
    },
    {
        "key": "chair",
        "brand": "Oakhurst Living",
        "category": "Furniture > Chairs",
        "title": "Solid Oak Dining Chair, Set of 2, Natural Oak",
        "description": (
            "A sturdy ladder-back dining chair with a shaped seat for comfort through long "
            "dinners. Finished in a hard-wearing matt lacquer. Arrives flat-packed with all "
            "fixings; assembly takes about 20 minutes."
        ),
        "attributes": {"seat_height": "46 cm"},
        "variants": [
            ("finish (wood)", [("Oak", "Walnut")]),
            ("size token (pack)", [("Set of 2", "Set of 4")]),
        ],
    },
    {
        "key": "duvet",
        "brand": "Brampton Linen",
        "category": "Home > Bedding",
        "title": "Egyptian Cotton Duvet Cover Set, King, Pewter Grey",
        "description": (
            "A 400 thread count sateen weave with a soft sheen, finished with a hidden button "
            "closure. The set includes a duvet cover and two housewife pillowcases. Wash at 40 "
            "degrees."
        ),
        "attributes": {"thread_count": "400"},
        "variants": [
            ("size token (bed)", [("King", "Double")]),
            ("colour (metal)", [("Pewter Grey", "Silver Grey")]),
        ],
    },
    {
        "key": "towel",
        "brand": "Brampton Linen",
        "category": "Home > Towels",
        "title": "Zero Twist Bath Towel 600 gsm, Eucalyptus",
        "description": (
            "Heavy, zero-twist cotton loops that grow softer and more absorbent with every wash. "
            "Generous size, double-stitched hems and a hanging loop."
        ),
        "attributes": {"weight": "600 gsm"},
        "variants": [
            ("colour (uncommon)", [("Eucalyptus", "Lavender")]),
            ("size token (weight)", [("600 gsm", "700 gsm")]),
            ("other product type", [("Bath Towel", "Hand Towel")]),
        ],
    },
    {
        "key": "runner",
        "brand": "Stridewell",
        "category": "Sport > Running Shoes",
        "title": "Men's Trailblazer Running Shoes, Size 9, Lime",
        "description": (
            "A cushioned trail shoe with a rock plate, 4 mm lugs for grip on loose ground, and a "
            "gusseted tongue that keeps grit out. Weighs 290 g in a size 9."
        ),
        "attributes": {"drop": "6 mm"},
        "variants": [
            ("gendered", [("Men's", "Women's")]),
            ("size token (shoe)", [("Size 9", "Size 10"), ("size 9", "size 10")]),
            ("colour (food)", [("Lime", "Peach")]),
            ("series name", [("Trailblazer", "Pathfinder")]),
        ],
    },
    {
        "key": "jacket",
        "brand": "Puddlejump",
        "category": "Kids > Coats",
        "title": "Boys' Waterproof Rain Jacket, Age 7-8, Navy",
        "description": (
            "Fully taped seams, a peaked hood that packs into the collar and reflective "
            "details front and back. Folds into its own pocket for school bags."
        ),
        "attributes": {"waterproof": "5000 mm"},
        "variants": [
            ("gendered", [("Boys'", "Girls'")]),
            ("size token (age)", [("Age 7-8", "Age 9-10")]),
            ("colour (food)", [("Navy", "Mint")]),
        ],
    },
    {
        "key": "robe",
        "brand": "Brampton Linen",
        "category": "Home > Bathrobes",
        "title": "Waffle Cotton Bathrobe, His, Charcoal",
        "description": (
            "A lightweight waffle-weave robe with a shawl collar, two patch pockets and a tie "
            "belt. Quick to dry and easy to pack. Personalise it with up to ten letters."
        ),
        "attributes": {},
        "variants": [
            ("gendered", [("His", "Hers")]),
            ("colour (common)", [("Charcoal", "Cream")]),
        ],
    },
    {
        "key": "perfume",
        "brand": "Maison Arlo",
        "category": "Beauty > Fragrance",
        "title": "Cedar & Amber Eau de Parfum for Him 50 ml",
        "description": (
            "Warm cedarwood over a base of amber and tonka bean, with a bright opening of "
            "bergamot. Lasts eight hours on the skin. Refillable glass bottle."
        ),
        "attributes": {"volume": "50 ml"},
        "variants": [
            ("gendered", [("for Him", "for Her")]),
            ("size token (volume)", [("50 ml", "100 ml")]),
        ],
    },
    {
        "key": "gilet",
        "brand": "Fellside Knitwear",
        "category": "Clothing > Gilets",
        "title": "Ladies' Quilted Fleece Gilet – Ink Blue",
        "description": (
            "A warm layer with a quilted body, a soft fleece lining and two zipped hand "
            "pockets. Cut slightly longer at the back."
        ),
        "attributes": {},
        "variants": [
            ("gendered", [("Ladies'", "Men's")]),
            ("colour (common)", [("Ink Blue", "Ink Black")]),
        ],
    },
    {
        "key": "tea",
        "brand": "Tamsin's Teas",
        "category": "Food > Tea",
        "title": "Loose Leaf Green Tea with Mint 100 g",
        "description": (
            "Sencha green tea blended with whole peppermint leaves. Brew one teaspoon per cup "
            "at 80 degrees for two to three minutes. Packed in a resealable kraft pouch."
        ),
        "attributes": {"weight": "100 g"},
        "variants": [
            ("flavour (food)", [("Mint", "Lemon"), ("peppermint leaves", "lemon peel")]),
            ("size token (weight)", [("100 g", "250 g")]),
        ],
    },
    {
        "key": "coffee",
        "brand": "Tollgate Roasters",
        "category": "Food > Coffee",
        "title": "Single Origin Coffee Beans 1 kg, Dark Roast",
        "description": (
            "Washed arabica from a single cooperative in the Huila highlands, roasted in small "
            "batches every week. Notes of cocoa, red fruit and brown sugar. Suits espresso and "
            "cafetière alike."
        ),
        "attributes": {"weight": "1 kg"},
        "variants": [
            ("roast", [("Dark Roast", "Medium Roast")]),
            ("size token (weight)", [("1 kg", "500 g")]),
        ],
    },
    {
        "key": "protein",
        "brand": "Ironleaf Nutrition",
        "category": "Food > Sports Nutrition",
        "title": "Whey Protein Powder 1 kg, Chocolate",
        "description": (
            "24 g of protein per 30 g scoop, with less than 2 g of sugar. Mixes smoothly with "
            "water or milk in a shaker. Batch tested for banned substances."
        ),
        "attributes": {"weight": "1 kg"},
        "variants": [
            ("flavour (food)", [("Chocolate", "Vanilla")]),
            ("flavour (food)", [("Chocolate", "Caramel")]),
            ("size token (weight)", [("1 kg", "2.5 kg")]),
        ],
    },
    {
        "key": "candle",
        "brand": "Wickham & Sons",
        "category": "Home > Candles",
        "title": "Scented Soy Candle 200 g, Cinnamon",
        "description": (
            "Hand-poured soy wax with a cotton wick in a reusable amber glass jar. Burns cleanly "
            "for around 40 hours. Trim the wick to 5 mm before each use."
        ),
        "attributes": {"weight": "200 g"},
        "variants": [
            ("scent (food)", [("Cinnamon", "Honey")]),
            ("size token (weight)", [("200 g", "400 g")]),
        ],
    },
    {
        "key": "headphones",
        "brand": "Sonance",
        "category": "Electronics > Headphones",
        "title": "Aria 2 Wireless Over-Ear Headphones, Graphite",
        "description": (
            "Adaptive noise cancelling, 40 hours of battery life and a quick charge that gives "
            "five hours from ten minutes. Memory-foam ear cushions and a foldable headband. "
            "Connects to two devices at once."
        ),
        "attributes": {"battery": "40 h"},
        "variants": [
            ("series name", [("Aria", "Nova")]),
            ("model name", [("Aria 2", "Aria 3")]),
            ("colour (uncommon)", [("Graphite", "Ivory")]),
        ],
    },
    {
        "key": "powerbank",
        "brand": "Voltaic",
        "category": "Electronics > Power",
        "title": "Slim Power Bank 10000 mAh, USB-C PD 20 W",
        "description": (
            "Charges a phone two to three times. Power Delivery fast charging over USB-C, a "
            "second USB-A port, and an LED gauge that shows the charge left. Airline-safe."
        ),
        "attributes": {"capacity": "10000 mAh"},
        "variants": [
            ("size token (capacity)", [("10000 mAh", "20000 mAh")]),
            ("size token (power)", [("20 W", "30 W")]),
        ],
    },
    {
        "key": "sdcard",
        "brand": "Quickstore",
        "category": "Electronics > Storage",
        "title": "microSDXC Memory Card 64GB, UHS-I U3, A2",
        "description": (
            "Read speeds up to 170 MB/s and write speeds up to 90 MB/s for 4K video, with an "
            "adapter included. Waterproof, shockproof and X-ray proof."
        ),
        "attributes": {},
        "variants": [
            ("size token (storage)", [("64GB", "128GB")]),
            ("model name", [("U3, A2", "U1, A1")]),
        ],
    },
    {
        "key": "drill",
        "brand": "Torqmaster",
        "category": "Tools > Drills",
        "title": "18V Brushless Combi Drill TM-778, Body Only",
        "description": (
            "Two-speed gearbox, 15 torque settings and a 13 mm keyless chuck. The brushless "
            "motor runs cooler and longer on one charge. LED work light and belt clip."
        ),
        "attributes": {"voltage": "18 V"},
        "variants": [
            ("model name", [("TM-778", "TM-796")]),
            ("kit vs body only", [("Body Only", "Kit with 2 Batteries")]),
        ],
    },
    {
        "key": "wiper",
        "brand": "Clearview Auto",
        "category": "Car > Wipers",
        "title": "Flat Wiper Blade 24 in, Driver Side",
        "description": (
            "A frameless blade with a spring steel spine that presses evenly along its length "
            "for streak-free wiping. Fits most hook-arm wipers with the adapter included."
        ),
        "attributes": {"length": "24 in"},
        "variants": [
            ("size token (length)", [("24 in", "26 in")]),
            ("side", [("Driver Side", "Passenger Side")]),
        ],
    },
    {
        "key": "bike",
        "brand": "Ridgeline Cycles",
        "category": "Sport > Bikes",
        "title": "Hybrid Bike 700c, Medium Frame, Satin Black",
        "description": (
            "A light alloy frame with a carbon fork, hydraulic disc brakes and a 1x10 drivetrain. "
            "Mounts for mudguards and a rack make it ready for commuting."
        ),
        "attributes": {"wheel": "700c"},
        "variants": [
            ("size token (frame)", [("Medium Frame", "Large Frame")]),
            ("finish", [("Satin Black", "Gloss Black")]),
        ],
    },
    {
        "key": "shirt",
        "brand": "Northfield Apparel",
        "category": "Clothing > Shirts",
        "title": "Women's Linen Shirt – XL – Claret",
        "description": (
            "A relaxed shirt in washed European linen with a camp collar, a single chest pocket "
            "and a curved hem to wear tucked or loose."
        ),
        "attributes": {},
        "variants": [
            ("size token (letter)", [("XL", "XS")]),
            ("colour (wine)", [("Claret", "Bordeaux")]),
        ],
    },
    {
        "key": "bistro",
        "brand": "Oakhurst Living",
        "category": "Garden > Furniture",
        "title": "Rattan Bistro Set, 2 Seater, Mocha",
        "description": (
            "Two stacking armchairs and a round table with a tempered glass top, woven from "
            "all-weather resin rattan over a powder-coated steel frame. Cushions included."
        ),
        "attributes": {},
        "variants": [
            ("colour (metal)", [("Mocha", "Bronze")]),
            ("colour (food)", [("Mocha", "Caramel")]),
        ],
    },
    {
        "key": "mug",
        "brand": "Fenland Pottery",
        "category": "Kitchen > Mugs",
        "title": "Stoneware Mug 350 ml, Speckled Honey",
        "description": (
            "Thrown by hand and dipped in a reactive glaze, so every mug is a little different. "
            "Microwave and dishwasher safe."
        ),
        "attributes": {"capacity": "350 ml"},
        "variants": [
            ("colour (food)", [("Honey", "Olive")]),
            ("colour (uncommon)", [("Honey", "Slate")]),
        ],
    },
]

# Round 2, written after the rules were first tuned, to test them on what they were not
# written for (README "Deduplication" reports its figures as measured before any change).
FAMILIES_2: list[dict[str, Any]] = [
    {
        "key": "bulb",
        "brand": "Lumen Works",
        "category": "Lighting > Bulbs",
        "title": "E27 LED Bulb 8.5 W, 806 lm, Warm White 2700K",
        "description": (
            "A frosted A60 bulb that replaces a 60 W incandescent and uses 85% less energy. "
            "Full brightness the moment you switch on, and rated for 15,000 hours. Not "
            "dimmable."
        ),
        "attributes": {"power": "8.5 W", "fitting": "E27"},
        "variants": [
            ("colour temperature", [("Warm White 2700K", "Cool White 4000K")]),
            ("fitting", [("E27", "B22")]),
            ("size token (power)", [("8.5 W", "11 W"), ("806 lm", "1055 lm")]),
        ],
    },
    {
        "key": "batteries",
        "brand": "Everpower",
        "category": "Electronics > Batteries",
        "title": "Alkaline Batteries AA, Pack of 12",
        "description": (
            "Long-lasting alkaline cells for remotes, toys, clocks and torches. Up to ten years "
            "of storage life and no leakage guarantee."
        ),
        "attributes": {"pack_size": "12"},
        "variants": [
            ("size token (cell)", [("AA", "AAA")]),
            ("size token (pack)", [("Pack of 12", "Pack of 24"), ("12", "24")]),
        ],
    },
    {
        "key": "ink",
        "brand": "Printwell",
        "category": "Office > Ink",
        "title": "Original Ink Cartridge 302XL, Black",
        "description": (
            "Genuine high-yield cartridge for sharp text and photos, printing around 480 pages. "
            "Smart chip reports ink levels to your printer."
        ),
        "attributes": {},
        "variants": [
            ("colour (common)", [("Black", "Tri-Colour")]),
            ("size token (yield)", [("302XL", "302")]),
        ],
    },
    {
        "key": "socks",
        "brand": "Fellside Knitwear",
        "category": "Clothing > Socks",
        "title": "Men's Bamboo Socks, 5 Pairs, UK 7-11",
        "description": (
            "Soft bamboo viscose socks with a cushioned sole, a seamless toe and a ribbed cuff "
            "that stays up without pinching."
        ),
        "attributes": {},
        "variants": [
            ("size token (shoe)", [("UK 7-11", "UK 4-6")]),
            ("size token (pack)", [("5 Pairs", "10 Pairs")]),
            ("gendered", [("Men's", "Women's")]),
        ],
    },
    {
        "key": "bra",
        "brand": "Northfield Apparel",
        "category": "Clothing > Lingerie",
        "title": "Non-Wired T-Shirt Bra 34B, Nude",
        "description": (
            "Moulded cups that stay smooth under fitted tops, with adjustable straps and a "
            "three-row hook and eye fastening."
        ),
        "attributes": {},
        "variants": [
            ("size token (band and cup)", [("34B", "36C")]),
            ("size token (cup)", [("34B", "34C")]),
        ],
    },
    {
        "key": "wine",
        "brand": "Quinta do Vale",
        "category": "Drinks > Wine",
        "title": "Reserve Merlot 2019, 75cl",
        "description": (
            "Ripe plum and black cherry with a touch of vanilla from twelve months in French "
            "oak. Serve with roast lamb or hard cheeses."
        ),
        "attributes": {"volume": "75cl"},
        "variants": [
            ("vintage", [("2019", "2020")]),
            ("size token (volume)", [("75cl", "150cl")]),
            ("grape", [("Merlot", "Malbec")]),
        ],
    },
    {
        "key": "cheddar",
        "brand": "Dale Farm Dairy",
        "category": "Food > Cheese",
        "title": "Mature Cheddar Cheese 400 g",
        "description": (
            "Aged for nine months for a rich, rounded flavour. Made with milk from our own "
            "herd. Suitable for vegetarians."
        ),
        "attributes": {"weight": "400 g"},
        "variants": [
            ("strength", [("Mature", "Extra Mature")]),
            ("size token (weight)", [("400 g", "800 g")]),
        ],
    },
    {
        "key": "case",
        "brand": "Shellguard",
        "category": "Phones > Cases",
        "title": "Clear Silicone Case for Galaxy S24",
        "description": (
            "A slim, flexible case with raised edges around the screen and camera, precise "
            "cut-outs and a coating that resists yellowing."
        ),
        "attributes": {},
        "variants": [
            ("model name", [("Galaxy S24", "Galaxy S24+")]),
            ("series name", [("Galaxy S24", "Galaxy S24 Ultra")]),
            ("finish", [("Clear Silicone", "Frosted Silicone")]),
        ],
    },
    {
        "key": "adapter",
        "brand": "Linkwell",
        "category": "Electronics > Adapters",
        "title": "USB-A to USB-C Adapter, 2 Pack",
        "description": (
            "Connect a USB-C cable to a USB-A port on a laptop, car or charger. Supports data at "
            "up to 5 Gbps and charging at up to 3 A."
        ),
        "attributes": {},
        "variants": [
            ("connector", [("USB-A to USB-C", "USB-C to USB-C")]),
            ("connector", [("USB-A to USB-C", "USB-C to USB-A")]),
        ],
    },
    {
        "key": "heritagepaint",
        "brand": "Hallam Paints",
        "category": "DIY > Paint",
        "title": "Estate Emulsion 2.5 L, Hague Blue No. 30",
        "description": (
            "A chalky, flat-matt finish with a depth of colour that changes with the light. "
            "Low odour and water based. Two coats recommended."
        ),
        "attributes": {"volume": "2.5 L"},
        "variants": [
            ("colour (uncommon)", [("Hague Blue No. 30", "Stiffkey Blue No. 281")]),
            ("colour (uncommon)", [("Hague Blue", "Railings")]),
        ],
    },
    {
        "key": "flooring",
        "brand": "Oakhurst Living",
        "category": "DIY > Flooring",
        "title": "Engineered Oak Flooring 14 mm, Smoked Oak, 1.8 m² Pack",
        "description": (
            "Click-fit boards with a 3 mm oak wear layer over a stable multi-ply core. Lay "
            "floating over underlay or glue down over underfloor heating."
        ),
        "attributes": {"thickness": "14 mm"},
        "variants": [
            ("finish (wood)", [("Smoked Oak", "Natural Oak")]),
            ("size token (thickness)", [("14 mm", "18 mm")]),
        ],
    },
    {
        "key": "tent",
        "brand": "Ridgeline Outdoor",
        "category": "Outdoor > Tents",
        "title": "Trekker 2-Person Backpacking Tent",
        "description": (
            "A freestanding dome that pitches in five minutes, with two doors, two porches and a "
            "3000 mm waterproof flysheet. Packs down to the size of a water bottle."
        ),
        "attributes": {},
        "variants": [
            ("size token (capacity)", [("2-Person", "3-Person")]),
            ("series name", [("Trekker", "Summit")]),
        ],
    },
    {
        "key": "suitcase",
        "brand": "Voyager",
        "category": "Luggage",
        "title": "Hard Shell Cabin Suitcase 55 cm, Spinner, Navy",
        "description": (
            "A polycarbonate shell, four double spinner wheels, a TSA lock and an expandable "
            "zip that adds room for the way home."
        ),
        "attributes": {"height": "55 cm"},
        "variants": [
            ("size token (luggage)", [("Cabin", "Large"), ("55 cm", "75 cm")]),
            ("colour (uncommon)", [("Navy", "Petrol")]),
        ],
    },
    {
        "key": "knife",
        "brand": "Fonderie Martel",
        "category": "Kitchen > Knives",
        "title": "Chef's Knife 20 cm, Damascus Steel",
        "description": (
            "Sixty-seven layers of folded steel around a hard core, honed to a 15-degree edge. "
            "A full tang and a riveted pakkawood handle."
        ),
        "attributes": {"blade_length": "20 cm"},
        "variants": [
            ("size token (length)", [("20 cm", "15 cm")]),
            ("knife type", [("Chef's Knife", "Santoku Knife")]),
        ],
    },
    {
        "key": "dogfood",
        "brand": "Pawfield",
        "category": "Pets > Dog Food",
        "title": "Adult Dry Dog Food, Chicken & Rice, 12 kg",
        "description": (
            "Complete food with chicken as the first ingredient, brown rice for slow-release "
            "energy, and added glucosamine for joints."
        ),
        "attributes": {"weight": "12 kg"},
        "variants": [
            ("flavour", [("Chicken & Rice", "Lamb & Rice"), ("chicken", "lamb")]),
            ("life stage", [("Adult", "Puppy")]),
            ("size token (weight)", [("12 kg", "2 kg")]),
        ],
    },
    {
        "key": "gloves",
        "brand": "Thornbury",
        "category": "Garden > Gloves",
        "title": "Leather Work Gloves, Size 10 (XL)",
        "description": (
            "Soft goatskin palms with a cotton back, reinforced fingertips and a safety cuff."
        ),
        "attributes": {},
        "variants": [
            ("size token (glove)", [("Size 10 (XL)", "Size 9 (L)")]),
            ("size token (glove)", [("Size 10 (XL)", "Size 8 (M)")]),
        ],
    },
    {
        "key": "tyre",
        "brand": "Roadmaster",
        "category": "Car > Tyres",
        "title": "Summer Tyre 205/55 R16 91V",
        "description": (
            "Short braking distances on wet and dry roads and low rolling resistance for better "
            "fuel economy. EU label: B / A / 71 dB."
        ),
        "attributes": {},
        "variants": [
            ("size token (tyre)", [("205/55 R16", "225/45 R17")]),
            ("season", [("Summer", "Winter")]),
        ],
    },
    {
        "key": "hoodie",
        "brand": "Northfield Apparel",
        "category": "Clothing > Hoodies",
        "title": "Unisex Organic Cotton Hoodie, Heather Grey, L",
        "description": (
            "Brushed-back organic cotton with a lined hood, a kangaroo pocket and ribbed cuffs. "
            "Garment dyed for a soft, lived-in feel."
        ),
        "attributes": {},
        "variants": [
            ("colour (common)", [("Heather Grey", "Heather Navy")]),
            ("size token (letter)", [("Grey, L", "Grey, XL")]),
        ],
    },
    {
        "key": "blocks",
        "brand": "Brickbox",
        "category": "Toys > Construction",
        "title": "Building Blocks Set, 500 Pieces, Ages 6+",
        "description": (
            "Compatible bricks in 18 colours with wheels, windows and doors, in a storage tub "
            "with an idea booklet."
        ),
        "attributes": {},
        "variants": [
            ("size token (pieces)", [("500 Pieces", "1000 Pieces")]),
            ("age", [("Ages 6+", "Ages 3+")]),
        ],
    },
    {
        "key": "desklamp",
        "brand": "Lumen Works",
        "category": "Lighting > Lamps",
        "title": "Desk Lamp with Linen Shade, Antique Brass",
        "description": (
            "An adjustable arm on a weighted base, an inline switch and a 1.8 m fabric cable. "
            "Takes an E14 bulb up to 40 W."
        ),
        "attributes": {},
        "variants": [
            ("finish (two words)", [("Antique Brass", "Matt Black")]),
            ("finish", [("Antique Brass", "Satin Nickel")]),
        ],
    },
]

ROUND_2_COPIES = [
    "title reordered",
    "shop noise in the title",
    "description truncated",
    "sentences shuffled",
    "spec sentence added",
]

# Catalog products given invented colour/finish siblings (same copy, one word added to the title).
CATALOG_SIBLINGS: list[tuple[str, str, str, str]] = [
    ("GA-10102", "colour (metal)", "Pewter", "Copper"),
    ("GA-10073", "colour (common)", "Forest Green", "Burgundy"),
    ("GA-10100", "colour (uncommon)", "Moss", "Stone"),
    ("GA-10072", "finish (wood)", "Walnut Handle", "Ash Handle"),
    ("GA-10026", "colour (food)", "Olive", "Plum"),
    ("GA-10124", "size token (width)", "25 mm", "50 mm"),
]

SYNONYMS = {
    "with": "featuring",
    "keeps": "holds",
    "soft": "gentle",
    "warm": "cosy",
    "light": "lightweight",
    "heavy": "weighty",
    "ready": "prepared",
    "up to": "as much as",
    "Each": "Every",
    "every": "each",
    "cleanly": "evenly",
    "sturdy": "robust",
    "smooth": "silky",
    "classic": "timeless",
    "easy": "simple",
    "quick": "fast",
    "two": "2",
    "three": "3",
    "full": "complete",
    "small": "little",
    "includes": "contains",
    "makes": "renders",
}
BOILERPLATE = [
    "Free UK delivery on orders over £30.",
    "Add to basket now while stocks last!",
    "Order today for next-day delivery.",
    "30-day returns, no questions asked.",
]


# --- perturbations of one text ------------------------------------------------------------------


def p_case(text: str, rng: random.Random) -> str:
    style = rng.choice(["upper", "lower", "title", "random"])
    if style == "upper":
        return text.upper()
    if style == "lower":
        return text.lower()
    if style == "title":
        return text.title()
    return " ".join(w.upper() if rng.random() < 0.5 else w.lower() for w in text.split(" "))


def p_punctuation(text: str, rng: random.Random) -> str:
    ops: list[Callable[[str], str]] = [
        lambda t: t.replace("-", " "),
        lambda t: t.replace("'", ""),
        lambda t: t.replace(", ", " - "),
        lambda t: t.replace(", ", " | "),
        lambda t: t.replace(" – ", ", "),
        lambda t: t.replace(",", ""),
        lambda t: t + ".",
        lambda t: t + "!",
        lambda t: re.sub(r"(?<!\d)-|-(?!\d)", "", t),  # never 7-8 -> 78
        lambda t: "“" + t + "”",
        lambda t: t.replace("'", "’"),
        lambda t: t.replace(" ", " / ", 1),
    ]
    out = text
    for op in rng.sample(ops, 3):
        out = op(out)
    return out


def p_whitespace(text: str, rng: random.Random) -> str:
    spaces = ["  ", "\t", "\u00a0", " \u2009", "   ", "\n"]
    words = text.split(" ")
    out = words[0]
    for word in words[1:]:
        out += (rng.choice(spaces) if rng.random() < 0.6 else " ") + word
    if len(out) > 6:
        i = rng.randrange(1, 5)
        out = out[:i] + "\u200b" + out[i:]  # a zero-width space inside a word
    return rng.choice(["  ", "\t", ""]) + out + rng.choice([" ", "  \n", "\u00a0"])


_ENTITY_FORMS = {
    "&": ["&amp;", "&Amp;", "&AMP;", "&#38;", "&#x26;", "&amp;amp;", "&aMp;"],
    "'": ["&#39;", "&apos;", "&#x27;", "&#X27;", "&APOS;", "&Apos;"],
    " ": ["&nbsp;", "&NBSP;", "&Nbsp;", "&#160;"],
    "é": ["&eacute;", "&Eacute;", "&EACUTE;"],
    "–": ["&ndash;", "&NDASH;", "&Ndash;"],
    ",": ["&#44;", "&comma;", "&COMMA;"],
}


def p_entities(text: str, rng: random.Random) -> str:
    """Characters escaped as entities, at least one of them mis-cased or double-escaped."""
    chars = [c for c in _ENTITY_FORMS if c in text and c != " "] or [" "]
    out = text
    for char in chars:
        forms = _ENTITY_FORMS[char]
        if char == " ":  # escape one or two spaces, not all
            for _ in range(rng.randint(1, 2)):
                out = out.replace(" ", rng.choice(forms), 1)
        else:
            out = out.replace(char, rng.choice(forms))
    if not re.search(r"&[A-Z]|&[a-z]+[A-Z]|&amp;amp;", out):
        out = out.replace(" ", rng.choice(["&NBSP;", "&Nbsp;"]), 1)
    return out


def p_markup(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    i = rng.randrange(len(words))
    forms = [
        lambda: f"<b>{text}</b>",
        lambda: f'<span class="product-name">{text}</span>',
        lambda: f"<H1 CLASS=title>{text}</H1>",
        lambda: " ".join([*words[:i], f"<strong>{words[i]}</strong>", *words[i + 1 :]]),
        lambda: f"&lt;b&gt;{text}&lt;/b&gt;",
        lambda: f"<p>{text}<br/></p>",
        lambda: f"<div><i>{text}</i></div>",
    ]
    return rng.choice(forms)()


SHORT_PERTURBATIONS: dict[str, Callable[[str, random.Random], str]] = {
    "case": p_case,
    "punctuation": p_punctuation,
    "whitespace": p_whitespace,
    "HTML entities": p_entities,
    "markup": p_markup,
}


def p_combined(text: str, rng: random.Random) -> str:
    out = text
    for name in sorted(rng.sample(list(SHORT_PERTURBATIONS), 3), key=_ORDER.index):
        out = SHORT_PERTURBATIONS[name](out, rng)
    return out


_ORDER = ["punctuation", "case", "whitespace", "HTML entities", "markup"]


def description_markup(text: str, rng: random.Random) -> str:
    sentences = re.split(r"(?<=\.) ", text)
    if rng.random() < 0.5:
        return "<p>" + "</p><p>".join(sentences) + "</p>"
    return "<ul>" + "".join(f"<li>{s}</li>" for s in sentences) + "</ul>"


def description_entities(text: str, rng: random.Random) -> str:
    return text.replace("'", rng.choice(_ENTITY_FORMS["'"])).replace(
        ". ", rng.choice([".&nbsp; ", ". ", ".&NBSP;"]), 2
    )


def reword(text: str, rng: random.Random, count: int = 3) -> str:
    found = [w for w in SYNONYMS if re.search(rf"\b{re.escape(w)}\b", text)]
    out = text
    for word in rng.sample(found, min(count, len(found))):
        out = re.sub(rf"\b{re.escape(word)}\b", SYNONYMS[word], out, count=1)
    return out


def with_tracking(text: str, rng: random.Random) -> str:
    """Every URL in `text` with tracking parameters added."""
    params = rng.choice(
        ["utm_source=newsletter&utm_medium=email", "gclid=EAIaIQobChMI", "fbclid=IwAR2x&ref=home"]
    )
    return re.sub(
        r"https?://[^\s\"]+",
        lambda m: m.group(0) + ("&" if "?" in m.group(0) else "?") + params,
        text,
    )


# --- second source: the title as another shop writes it -----------------------------------------

_UNIT_WORDS = [
    (r"(\d) ?L\b", r"\1 Litre"),
    (r"(\d) ?ml\b", r"\1ml"),
    (r"(\d) ?kg\b", r"\1kg"),
    (r"(\d) ?g\b", r"\1 grams"),
    (r"(\d) ?m\b", r"\1 metre"),
    (r"(\d) ?mm\b", r"\1mm"),
    (r"(\d)GB\b", r"\1 GB"),
    (r"(\d) GB\b", r"\1GB"),
    (r"(\d) cm\b", r"\1cm"),
]


def second_source_title(title: str, brand: str, rng: random.Random) -> str:
    out = title
    for pattern, repl in _UNIT_WORDS:
        out = re.sub(pattern, repl, out)
    out = out.replace(" & ", " and ").replace(" – ", " - ")
    if rng.random() < 0.7 and brand:
        out = f"{brand} {out}"
    return out


TITLE_NOISE = [" – UK Stock", " (Genuine)", " – Gift Boxed", " – Top Rated", " – New Season"]


def reworded_title(title: str, brand: str, rng: random.Random) -> str:
    """The title as a marketplace seller writes it: brand in front, units spelled out, its
    comma-separated parts in another order, a selling phrase at the end."""
    parts = re.split(r",\s+|\s+[–-]\s+", second_source_title(title, "", rng))
    parts = parts[1:] + parts[:1] if len(parts) > 1 else parts
    return f"{brand} {' '.join(parts)}{rng.choice(TITLE_NOISE)}"


def copy_reworded(record: Record, new_id: str) -> Record:
    rng = random.Random(new_id)
    title = reworded_title(record["title"], record.get("brand") or "", rng)
    description = reword(record["description"], rng, count=2)
    return record | {"id": new_id, "title": title, "description": description}


def build_reworded(builder: Builder, family: dict[str, Any]) -> None:
    """Round 3: the original and each sibling as another seller titles them (more than one word
    apart, so only the named features can tell the siblings apart)."""
    group = f"family:{family['key']}"
    base_id = f"H-{family['key'].upper()}"
    copy_id = builder.add(copy_reworded(builder.records[base_id], f"{base_id}-W"))
    builder.pair(base_id, copy_id, True, "copy: title reworded by a seller", group)
    for n, (case, _) in enumerate(family["variants"], start=1):
        variant_id = f"{base_id}-V{n}"
        other = builder.add(copy_reworded(builder.records[variant_id], f"{variant_id}-W"))
        builder.pair(base_id, other, False, f"variant: {case}, title reworded by a seller", group)


# --- building records and pairs -----------------------------------------------------------------


def substitute(record: Record, subs: list[Sub]) -> Record:
    """`record` with each `old` word (whole words only; in the description also lowercase)
    replaced by `new`."""

    def apply(text: str, *, lowercase: bool = False) -> str:
        for old, new in subs:
            text = re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", new, text)
            if lowercase and old.lower() != old:
                text = re.sub(rf"(?<!\w){re.escape(old.lower())}(?!\w)", new.lower(), text)
        return text

    out = dict(record)
    out["title"] = apply(record["title"])
    out["description"] = apply(record["description"], lowercase=True)
    out["attributes"] = {k: apply(v) for k, v in record["attributes"].items()}
    return out


def short(record: Record, suffix: str = "S") -> Record:
    """The record as a short text: its title (and brand) only."""
    return {
        "id": f"{record['id']}-{suffix}",
        "title": record["title"],
        "brand": record.get("brand"),
        "description": "",
        "attributes": {},
        "source": record.get("source", "feed"),
    }


def copy_short(record: Record, kind: str, new_id: str) -> Record:
    rng = random.Random(new_id)
    perturb = p_combined if kind == "combined" else SHORT_PERTURBATIONS[kind]
    brand = record.get("brand")
    return record | {
        "id": new_id,
        "title": perturb(record["title"], rng),
        "brand": p_case(brand, rng) if brand and kind in ("case", "combined") else brand,
        "source": "crawl:copy.example",
    }


def copy_full(record: Record, kind: str, new_id: str) -> Record:
    """A perturbed copy of a full record: another shop's page of the same product."""
    rng = random.Random(new_id)
    title, description = record["title"], record["description"]
    url = record.get("url") or f"https://copy.example/p/{new_id.lower()}"
    if kind == "markup and entities":
        title = p_markup(p_entities(title, rng), rng)
        description = description_markup(description_entities(description, rng), rng)
    elif kind == "case, whitespace and tracking":
        title = p_whitespace(p_case(title, rng), rng)
        description = with_tracking(description, rng)
        url = with_tracking(url, rng)
    elif kind == "boilerplate and markup":
        description = description_markup(rng.choice(BOILERPLATE) + " " + description, rng)
        title = p_punctuation(title, rng)
    elif kind == "reworded description":
        description = reword(description, rng)
        title = p_case(title, rng) if rng.random() < 0.5 else title
    elif kind == "second source (title and description reworded)":
        title = second_source_title(title, record.get("brand") or "", rng)
        description = reword(description, rng, count=2)
    elif kind == "title reordered":
        head, _, tail = title.rpartition(", ")
        title = f"{tail} {head}" if head else title
    elif kind == "shop noise in the title":
        title = rng.choice(["NEW! ", "", "Official "]) + title
        title += rng.choice([" ™", " – UK Stock", " (Genuine)", " | Top Rated"])
    elif kind == "description truncated":
        sentences = re.split(r"(?<=\.) ", description)
        description = " ".join(sentences[: max(1, len(sentences) * 2 // 3)]) + " … Read more"
    elif kind == "sentences shuffled":
        sentences = re.split(r"(?<=\.) ", description)
        rng.shuffle(sentences)
        description = " ".join(sentences)
    elif kind == "spec sentence added":
        description += rng.choice(
            [
                " Please check the label for full care details.",
                " Images are for illustration only.",
                " Specifications may change without notice.",
            ]
        )
    else:
        raise ValueError(kind)
    return record | {
        "id": new_id,
        "title": title,
        "description": description,
        "url": url,
        "source": "crawl:copy.example",
    }


FULL_COPIES = [
    "markup and entities",
    "case, whitespace and tracking",
    "boilerplate and markup",
    "reworded description",
    "second source (title and description reworded)",
]


class Builder:
    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.pairs: list[Pair] = []

    def add(self, record: Record) -> str:
        self.records[record["id"]] = record
        return str(record["id"])

    def pair(self, a: str, b: str, duplicate: bool, case: str, group: str, **more: Any) -> None:
        self.pairs.append(
            {"a": a, "b": b, "duplicate": duplicate, "case": case, "group": group, **more}
        )


def family_base(family: dict[str, Any]) -> Record:
    return {
        "id": f"H-{family['key'].upper()}",
        "title": family["title"],
        "brand": family["brand"],
        "category": family["category"],
        "description": family["description"],
        "attributes": dict(family["attributes"]),
        "url": f"https://shop.example/p/{family['key']}",
        "source": "feed:hand-written",
    }


def build_family(
    builder: Builder, family: dict[str, Any], turn: int, copies: list[str] = FULL_COPIES
) -> None:
    group = f"family:{family['key']}"
    base = family_base(family)
    base_id = builder.add(base)
    base_short_id = builder.add(short(base))
    variants: list[tuple[str, Record]] = []
    for n, (case, subs) in enumerate(family["variants"], start=1):
        variant = substitute(base, subs) | {"id": f"{base_id}-V{n}", "url": f"{base['url']}-{n}"}
        variants.append((case, variant))
        v_id = builder.add(variant)
        v_short_id = builder.add(short(variant))
        builder.pair(base_id, v_id, False, f"variant: {case}", group)
        builder.pair(base_short_id, v_short_id, False, f"variant: {case} (short text)", group)
        # a copy of the sibling, perturbed: still not the original
        kind = list(SHORT_PERTURBATIONS)[n % len(SHORT_PERTURBATIONS)]
        v_copy = builder.add(copy_short(builder.records[v_short_id], kind, f"{v_short_id}-C"))
        builder.pair(base_short_id, v_copy, False, f"variant: {case}, copy perturbed", group)
    # copies of the original: short texts, four of the six perturbations (turn about)
    kinds = [*SHORT_PERTURBATIONS, "combined"]
    for kind in (kinds * 2)[turn : turn + 4]:
        tag = kind.split()[0][:4].upper()
        base_short = builder.records[base_short_id]
        copy_id = builder.add(copy_short(base_short, kind, f"{base_short_id}-{tag}"))
        builder.pair(base_short_id, copy_id, True, f"copy, short text: {kind}", group)
    # copies of the full record: three of the five kinds (turn about)
    for n, kind in enumerate((copies * 2)[turn : turn + 3], start=1):
        copy_id = builder.add(copy_full(base, kind, f"{base_id}-C{n}"))
        builder.pair(base_id, copy_id, True, f"copy: {kind}", group)
    # the copy must be linked to its true original while a sibling is known too
    for n, (_, variant) in enumerate(variants[:2], start=1):
        kind = copies[(turn + n) % len(copies)]
        copy_id = builder.add(copy_full(base, kind, f"{base_id}-L{n}"))
        link(builder, base_id, copy_id, variant["id"], first=n == 1, group=group)
        # and a copy of the sibling, with the sibling known, is not the original
        sib_copy = builder.add(copy_full(variant, kind, f"{variant['id']}-C"))
        case = "copy of a sibling, sibling known"
        builder.pair(base_id, sib_copy, False, case, group, between=[variant["id"]])
    # a sibling as a second source writes it (title and description reworded)
    case, variant = variants[turn % len(variants)]
    kind = "second source (title and description reworded)"
    other = builder.add(copy_full(variant, kind, f"{variant['id']}-R"))
    builder.pair(base_id, other, False, f"variant: {case}, from a second source", group)
    short_copy = builder.add(
        copy_short(builder.records[base_short_id], "combined", f"{base_short_id}-L")
    )
    sibling = f"{variants[0][1]['id']}-S"
    link(builder, base_short_id, short_copy, sibling, first=turn % 2 == 0, group=group)


def link(builder: Builder, a: str, b: str, sibling: str, *, first: bool, group: str) -> None:
    """`b` (a copy of `a`) is checked after `a` and its sibling (before `a`, or between)."""
    where = {"before": [sibling]} if first else {"between": [sibling]}
    short = " (short)" if a.endswith("-S") else ""
    case = f"link to the original, sibling {'first' if first else 'second'}{short}"
    builder.pair(a, b, True, case, group, **where)


def build_catalog(builder: Builder, catalog: dict[str, Record]) -> None:
    ids = sorted(catalog)
    rng = random.Random("catalog")
    kinds = [*SHORT_PERTURBATIONS, "combined"]
    for n, product_id in enumerate(rng.sample(ids, 36)):
        original = catalog[product_id]
        base = short(original | {"id": f"C-{product_id}"})
        group = f"catalog:{product_id}"
        base_id = builder.add(base)
        kind = kinds[n % len(kinds)]
        copy_id = builder.add(copy_short(base, kind, f"{base_id}-{kind[:4].upper()}"))
        builder.pair(base_id, copy_id, True, f"copy, short text: {kind} (catalog)", group)
    for n, product_id in enumerate(rng.sample(ids, 15)):
        original = catalog[product_id] | {"id": f"CF-{product_id}"}
        base_id = builder.add(original)
        kind = FULL_COPIES[n % len(FULL_COPIES)]
        copy_id = builder.add(copy_full(original, kind, f"{base_id}-C"))
        group = f"catalog:{product_id}"
        builder.pair(base_id, copy_id, True, f"copy: {kind} (catalog)", group)
    for product_id, case, first, second in CATALOG_SIBLINGS:
        original = catalog[product_id]
        group = f"catalog-sibling:{product_id}"
        one = original | {"id": f"CS-{product_id}-1", "title": f"{original['title']}, {first}"}
        two = original | {"id": f"CS-{product_id}-2", "title": f"{original['title']}, {second}"}
        builder.add(one)
        builder.add(two)
        builder.pair(one["id"], two["id"], False, f"variant: {case} (catalog)", group)
        copy_id = builder.add(copy_full(one, "markup and entities", f"{one['id']}-C"))
        builder.pair(
            one["id"],
            copy_id,
            True,
            "link to the original, sibling first",
            group,
            before=[two["id"]],
        )


def holdout(group: str) -> bool:
    return int(hashlib.sha256(f"holdout:{group}".encode()).hexdigest(), 16) % 4 == 0


def build() -> tuple[list[Record], list[Pair]]:
    """Every record (sorted by id) and every labelled pair, as the files hold them."""
    catalog = {
        r["id"]: r
        for r in (json.loads(line) for line in CATALOG.read_text(encoding="utf-8").splitlines())
    }
    builder = Builder()
    for turn, family in enumerate(FAMILIES):
        build_family(builder, family, turn % 5)
    build_catalog(builder, catalog)
    first_round = len(builder.pairs)
    for turn, family in enumerate(FAMILIES_2):
        build_family(builder, family, turn % 5, ROUND_2_COPIES)
    second_round = len(builder.pairs)
    for family in FAMILIES + FAMILIES_2:
        build_reworded(builder, family)
    for n, pair in enumerate(builder.pairs):
        pair["split"] = "holdout" if holdout(pair["group"]) else "dev"
        pair["round"] = 1 if n < first_round else 2 if n < second_round else 3
    return [builder.records[k] for k in sorted(builder.records)], builder.pairs


def jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main() -> None:
    records, pairs = build()
    (HERE / "hard_records.jsonl").write_text(jsonl(records), encoding="utf-8")
    (HERE / "hard_pairs.jsonl").write_text(jsonl(pairs), encoding="utf-8")
    positives = sum(p["duplicate"] for p in pairs)
    print(
        f"{len(records)} records, {len(pairs)} pairs ({positives} duplicates), "
        f"{sum(p['split'] == 'holdout' for p in pairs)} held out"
    )


if __name__ == "__main__":
    main()
