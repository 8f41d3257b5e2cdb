"""Small SQL building blocks every repository uses the same way."""

from __future__ import annotations

LIKE_ESCAPE = "\\"


def like_literal(text: str) -> str:
    """``text`` with LIKE's wildcards escaped (with :data:`LIKE_ESCAPE`), so it matches itself only:
    ``col.ilike("%" + like_literal(q) + "%", escape=LIKE_ESCAPE)``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
