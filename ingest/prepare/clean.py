"""Moved to `ingest.core.text` (the bottom layer, shared by every source).

Re-exported here only for the modules of `ingest.prepare` that still import it from here (the
package's `__init__`, `dedup`); once they import `ingest.core.text`, this module goes. A source
must never import it: that is an import up a layer (`ingest.LAYERS`).
"""

from ingest.core.text import clean_line, clean_text, strip_markup

__all__ = ["clean_line", "clean_text", "strip_markup"]
