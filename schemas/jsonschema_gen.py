"""Generate the checked-in JSON Schema of every wire record: `python -m schemas.jsonschema_gen`."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.models import Chunk, DeadLetter, ProductDeleted, ProductRecord

SCHEMA_DIR = Path(__file__).parent / "jsonschema"
MODELS: dict[str, type[BaseModel]] = {
    "product_record": ProductRecord,
    "chunk": Chunk,
    "product_deleted": ProductDeleted,
    "dead_letter": DeadLetter,
}


def render(model: type[BaseModel]) -> str:
    return json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name, model in MODELS.items():
        (SCHEMA_DIR / f"{name}.schema.json").write_text(render(model))


if __name__ == "__main__":
    main()
