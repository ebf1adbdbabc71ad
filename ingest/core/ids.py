"""The one product-id check: what `schemas.models.ProductId` accepts, for every source.

A product id is 1 to `MAX_ID_CHARS` characters with no whitespace and no control character
(feed rows and deletions, manifest rows, `<product-id>__<name>` document file names, `--product-id`;
page ids are built to fit, `ingest.pages.identity`). Surrounding whitespace is the caller's to
strip: an id is checked as given.
"""

from __future__ import annotations

from typing import get_args

from pydantic import TypeAdapter, ValidationError

from ingest.errors import InvalidProductId
from schemas.models import ProductId, describe_errors


def _max_length() -> int:
    field = get_args(ProductId)[1]
    return int(next(c.max_length for c in field.metadata if hasattr(c, "max_length")))


MAX_ID_CHARS = _max_length()
"""Longest product id: `ProductId`'s `max_length` (200)."""

_PRODUCT_ID: TypeAdapter[str] = TypeAdapter(ProductId)


def check_product_id(value: str, *, subject: str = "id") -> str:
    """`value` if it is a valid product id; raises `InvalidProductId`, whose message names
    `subject` and shows the value (`id: String should match pattern ... (got 'A B')`)."""
    try:
        return _PRODUCT_ID.validate_python(value)
    except ValidationError as e:
        problem = "; ".join(err["msg"] for err in e.errors(include_url=False))
        message = describe_errors(e, subject=subject, show_input=True)
        raise InvalidProductId(message, value=value, problem=problem) from e
