"""A DOCX package (a ZIP) checked before python-docx opens it, which reads every part into memory.

1. The ZIP directory, nothing inflated: member count, each member's declared size and
   compression ratio (members over 1 MB), the declared total, and `word/document.xml` present.
2. Every member streamed through the inflater in 1 MB pieces, counting the bytes that actually
   come out (a directory can lie) against the same limits and checking each CRC; XML parts go
   on to the markup scan (`scan.MarkupTally`: elements, depth, text) as they stream.

So a zip bomb is refused from its directory in milliseconds, and no check holds more than a
piece of a member in memory. Any ZIP or zlib failure is a corrupt package.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from ingest.documents.errors import DocumentError
from ingest.documents.limits import DocumentLimits, count, exceeded, size
from ingest.documents.scan import MarkupTally

MAIN_PART = "word/document.xml"
_RATIO_FLOOR = 1_000_000  # smaller members are not ratio-checked: their ratio is harmless
_PIECE = 1 << 20
_XML_SUFFIXES = (".xml", ".rels")


def check_docx(path: Path, limits: DocumentLimits) -> None:
    """Raise `DocumentError` (`DocumentLimitExceeded` for a limit) unless the package is sane."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            _check_directory(members, limits)
            _check_contents(archive, members, limits)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError) as e:
        raise DocumentError(f"corrupt or unreadable DOCX: {type(e).__name__}: {e}") from e


def _check_directory(members: list[zipfile.ZipInfo], limits: DocumentLimits) -> None:
    if len(members) > limits.max_zip_members:
        raise exceeded(
            f"the package has {count(len(members))} members, over the "
            f"{count(limits.max_zip_members)} limit",
            "max_zip_members",
        )
    if MAIN_PART not in {m.filename for m in members}:
        raise DocumentError(f"not a DOCX: the package has no {MAIN_PART}")
    for member in members:
        _check_declared(member.filename, member.file_size, limits)
        _check_ratio(member, limits)
    _check_declared("the package", sum(m.file_size for m in members), limits)


def _check_declared(name: str, declared: int, limits: DocumentLimits) -> None:
    if declared > limits.max_uncompressed_bytes:
        raise exceeded(
            f"{name} inflates to {size(declared)}, over the "
            f"{size(limits.max_uncompressed_bytes)} limit",
            "max_uncompressed_bytes",
        )


def _check_ratio(member: zipfile.ZipInfo, limits: DocumentLimits) -> None:
    if member.file_size <= _RATIO_FLOOR:
        return
    ratio = member.file_size / max(member.compress_size, 1)
    if ratio > limits.max_compression_ratio:
        raise exceeded(
            f"{member.filename} is compressed {ratio:,.0f}:1 ({size(member.compress_size)} to "
            f"{size(member.file_size)}), over the {limits.max_compression_ratio:g}:1 limit",
            "max_compression_ratio",
        )


def _check_contents(
    archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], limits: DocumentLimits
) -> None:
    tally = MarkupTally(limits)
    inflater = _Inflater(archive, limits)
    for member in members:
        pieces = inflater.pieces(member)
        if member.filename.endswith(_XML_SUFFIXES):
            tally.feed_xml(pieces, member.filename)
        for _ in pieces:  # what the markup scan left unread, or a member that is not XML
            pass


class _Inflater:
    """Members inflated piece by piece, the bytes that come out counted against the limits."""

    def __init__(self, archive: zipfile.ZipFile, limits: DocumentLimits) -> None:
        self.archive = archive
        self.limits = limits
        self.total = 0

    def pieces(self, member: zipfile.ZipInfo) -> Iterator[bytes]:
        inflated = 0
        with self.archive.open(member) as stream:
            while piece := stream.read(_PIECE):
                inflated += len(piece)
                self.total += len(piece)
                self._check(member.filename, inflated)
                self._check("the package", self.total)
                yield piece

    def _check(self, name: str, inflated: int) -> None:
        limit = self.limits.max_uncompressed_bytes
        if inflated > limit:
            raise exceeded(
                f"{name} inflates to more than the {size(limit)} limit",
                "max_uncompressed_bytes",
            )
