"""DOCX, HTML, Markdown and plain text through `unstructured`'s partitioners, offline.

`unstructured` is imported lazily (it takes seconds) and set up for a machine without internet:

- analytics ping and usage notice are off (`DO_NOT_TRACK`, `SCARF_NO_ANALYTICS`,
  `UNSTRUCTURED_DISABLE_NOTICE`, set before the first import);
- its text classifier (`is_possible_narrative_text`, `is_possible_title`) tokenizes with spaCy
  and, on first use, downloads and pip-installs the `en_core_web_sm` model from GitHub. No
  parameter or environment variable skips that, so the model loader
  (`unstructured.nlp.tokenize._get_nlp`) is replaced by a blank English pipeline with spaCy's
  rule-based sentencizer: tokens and sentences, no trained model, nothing downloaded. Without a
  part-of-speech tagger the classifier cannot find verbs; for HTML, Markdown and DOCX that only
  moves paragraphs between NarrativeText and UncategorizedText (both become `text` here), and
  for plain text a short one-sentence paragraph it would call a title is kept as text when it
  ends like a sentence (see `_demote_sentences`). This replacement is process-wide.

Headings come from markup: `<h1>`..`<h6>`, Markdown `#`, Word heading styles, each with
`category_depth`; plain text has no levels.
"""

from __future__ import annotations

import functools
import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from spacy.language import Language
    from unstructured.documents.elements import Element

_ENV = {"DO_NOT_TRACK": "true", "SCARF_NO_ANALYTICS": "true", "UNSTRUCTURED_DISABLE_NOTICE": "1"}
_NO_LANGUAGE_DETECTION = [""]
_SENTENCE_END = re.compile(r"[.!?;,]\W*$")
_MARKDOWN_EXTENSIONS = ("tables", "fenced_code")  # partition_md's default

for _name, _value in _ENV.items():  # before unstructured is first imported, as its docs ask
    os.environ.setdefault(_name, _value)


def partition_docx(path: Path) -> list[Element]:
    """Elements of a Word document (headings from paragraph styles, tables as HTML)."""
    _setup()
    from unstructured.partition.docx import partition_docx as partition

    return partition(filename=str(path), languages=_NO_LANGUAGE_DETECTION)


def partition_html(text: str) -> list[Element]:
    """Elements of an HTML document."""
    _setup()
    from unstructured.partition.html import partition_html as partition

    return partition(text=text, languages=_NO_LANGUAGE_DETECTION)


def markdown_html(text: str) -> str:
    """A Markdown document rendered to HTML as `unstructured`'s `partition_md` renders it."""
    import markdown

    html: str = markdown.markdown(text, extensions=list(_MARKDOWN_EXTENSIONS))
    return html


def partition_markdown_html(html: str) -> list[Element]:
    """Elements of a Markdown document already rendered by `markdown_html` (tables included):
    `partition_md` without rendering twice (the caller measures the HTML first)."""
    _setup()
    from unstructured.file_utils.model import FileType
    from unstructured.partition.html import partition_html as partition

    return partition(
        text=html,
        metadata_file_type=FileType.MD,
        detection_origin="md",
        languages=_NO_LANGUAGE_DETECTION,
    )


def partition_markdown(text: str) -> list[Element]:
    """Elements of a Markdown document (rendered to HTML by `markdown`, tables included)."""
    return partition_markdown_html(markdown_html(text))


def partition_plain_text(text: str) -> list[Element]:
    """Elements of plain text: paragraphs split at blank lines, bullets as list items."""
    _setup()
    from unstructured.partition.text import partition_text as partition

    return _demote_sentences(partition(text=text, languages=_NO_LANGUAGE_DETECTION))


def _demote_sentences(elements: list[Element]) -> list[Element]:
    """A 'title' that ends like a sentence ("Store in a cool place.") becomes a paragraph."""
    from unstructured.documents.elements import NarrativeText, Title

    return [
        NarrativeText(text=e.text, metadata=e.metadata)
        if isinstance(e, Title) and _SENTENCE_END.search(e.text)
        else e
        for e in elements
    ]


def warm_up() -> None:
    """Import the partitioners and build the tokenizer now (the parser process does it once,
    before it takes documents)."""
    import unstructured.cleaners.core
    import unstructured.partition.docx
    import unstructured.partition.html
    import unstructured.partition.text
    import unstructured.partition.text_type  # noqa: F401

    _setup()
    _offline_nlp()


@functools.cache
def _setup() -> None:
    """Give unstructured a tokenizer that needs no model download (once per process)."""
    from unstructured.nlp import tokenize

    tokenize._get_nlp = _offline_nlp  # type: ignore[attr-defined]


@functools.cache
def _offline_nlp() -> Language:
    """A blank English spaCy pipeline with the rule-based sentencizer: no model, no download."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp
