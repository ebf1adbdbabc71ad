"""The import layers of `ingest` (`ingest.LAYERS`): no import in `ingest/` goes from a lower
layer to a higher one, the sources do not import each other, and nothing imports `workers` or
`infra`. Every import statement counts, wherever it is: at module level, inside a function,
under `if TYPE_CHECKING:`. The files are read with `ast`, nothing is imported."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest import LAYERS, Layer

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("workers", "infra")
"""Packages `ingest` never imports."""


@dataclass(frozen=True, kw_only=True)
class Edge:
    """One import of one module by another."""

    path: Path
    line: int
    importer: str
    imported: str


def module_name(path: Path, root: Path) -> str:
    """`ingest/pages/crawl.py` -> `ingest.pages.crawl`; a package's `__init__.py` is the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def edges(package: Path) -> Iterator[Edge]:
    """Every import in every module of `package` (a directory under its import root)."""
    root = package.parent
    files = sorted(package.rglob("*.py"))
    known = {module_name(f, root) for f in files}
    for path in files:
        importer = module_name(path, root)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            for imported in _targets(node, importer, path.name == "__init__.py", known):
                yield Edge(path=path, line=node.lineno, importer=importer, imported=imported)


def _targets(node: ast.AST, importer: str, is_package: bool, known: set[str]) -> list[str]:
    """The modules one import statement imports (`from p import m` imports module `p.m` when
    there is one, else names of `p`)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:  # relative: from the importer's package, `level - 1` packages up
        package = importer.split(".") if is_package else importer.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    found = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known]
    return found or [base]


def place(module: str, layers: tuple[Layer, ...]) -> tuple[int, str] | None:
    """(layer index, listed prefix) of `module`: the longest prefix listed; None when unlisted."""
    best: tuple[int, str] | None = None
    for index, layer in enumerate(layers):
        for prefix in layer.modules:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and (best is None or len(prefix) > len(best[1])):
                best = (index, prefix)
    return best


def violations(package: Path, layers: tuple[Layer, ...]) -> list[str]:
    """Every import that breaks the layering, one readable line each (`path:line importer
    (layer) -> imported (layer): why`); a module of the package in no layer is one too."""
    name = package.name
    found: list[str] = []
    for edge in edges(package):
        where = f"{edge.path.relative_to(package.parent)}:{edge.line}"
        if edge.imported.split(".")[0] in FORBIDDEN:
            found.append(f"{where} {edge.importer} -> {edge.imported}: {name} never imports it")
            continue
        if edge.imported != name and not edge.imported.startswith(name + "."):
            continue  # another package (schemas, a library)
        source, target = place(edge.importer, layers), place(edge.imported, layers)
        if source is None or target is None:
            unlisted = edge.importer if source is None else edge.imported
            if unlisted != name:  # the package itself (`from ingest import ...`) is no layer
                found.append(f"{where} {unlisted}: in no layer (list it in LAYERS)")
            continue
        shown = (
            f"{where} {edge.importer} ({layers[source[0]].name}) -> "
            f"{edge.imported} ({layers[target[0]].name})"
        )
        if target[0] > source[0]:
            found.append(f"{shown}: up a layer")
        elif target[0] == source[0] and layers[source[0]].independent and target[1] != source[1]:
            found.append(f"{shown}: {source[1]} and {target[1]} are independent")
    return sorted(set(found))


def test_no_import_in_ingest_goes_up_a_layer() -> None:
    found = violations(ROOT / "ingest", LAYERS)
    assert not found, "imports against the layers of ingest (ingest.LAYERS):\n" + "\n".join(found)


def test_every_module_of_ingest_is_in_a_layer() -> None:
    root = ROOT / "ingest"
    modules = {module_name(p, ROOT) for p in root.rglob("*.py")} - {"ingest"}
    assert {m for m in modules if place(m, LAYERS) is None} == set()


# --------------------------------------------------------------------------- the checker itself

SYNTHETIC = (
    Layer(name="low", modules=("pkg.low", "pkg.side"), independent=True),
    Layer(name="high", modules=("pkg.high",)),
)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return write(
        tmp_path,
        {
            "__init__.py": "",
            "low/__init__.py": "",
            "low/a.py": (
                "from typing import TYPE_CHECKING\n"
                "import json\n"
                "from pkg.low import b\n"  # same layer, same part: fine
                "if TYPE_CHECKING:\n"
                "    from pkg.high.c import C\n"  # up, for the type checker only: still up
                "def f() -> None:\n"
                "    from pkg.high import c\n"  # up, inside a function
                "    import pkg.side.d\n"  # an independent sibling
                "    import workers.batch\n"  # a forbidden package
            ),
            "low/b.py": "from ..high import c\n",  # up, relative
            "side/__init__.py": "",
            "side/d.py": "from pkg.low.b import x\nimport pkg\n",
            "high/__init__.py": "",
            "high/c.py": "from pkg.low import a, b\nfrom .. import low\n",  # down: fine
        },
    )


def test_the_checker_finds_every_kind_of_violation(package: Path) -> None:
    assert violations(package, SYNTHETIC) == [
        "pkg/low/a.py:5 pkg.low.a (low) -> pkg.high.c (high): up a layer",
        "pkg/low/a.py:7 pkg.low.a (low) -> pkg.high.c (high): up a layer",
        "pkg/low/a.py:8 pkg.low.a (low) -> pkg.side.d (low): pkg.low and pkg.side are independent",
        "pkg/low/a.py:9 pkg.low.a -> workers.batch: pkg never imports it",
        "pkg/low/b.py:1 pkg.low.b (low) -> pkg.high.c (high): up a layer",
        "pkg/side/d.py:1 pkg.side.d (low) -> pkg.low.b (low): pkg.side and pkg.low are independent",
    ]


def test_the_checker_passes_a_layered_package(tmp_path: Path) -> None:
    package = write(
        tmp_path,
        {
            "__init__.py": "",
            "low/a.py": "import json\nfrom pkg.low import b\n",
            "low/b.py": "",
            "high/c.py": "from pkg.low.a import json\nfrom ..low import b\n",
        },
    )
    assert violations(package, SYNTHETIC) == []


def test_a_module_in_no_layer_is_reported(tmp_path: Path) -> None:
    package = write(
        tmp_path, {"__init__.py": "", "high/c.py": "from pkg import stray\n", "stray.py": ""}
    )
    assert violations(package, SYNTHETIC) == [
        "pkg/high/c.py:1 pkg.stray: in no layer (list it in LAYERS)"
    ]
