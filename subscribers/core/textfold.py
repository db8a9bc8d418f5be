"""Text folded for matching: no accents, no case ("Żółć" and "zolc" fold alike).

Used wherever people type names they may not spell with the right letters: member search and
segment values. Pure Python, so SQLite and PostgreSQL match the same way (the folded form is
stored next to the original; see members.search).
"""

from __future__ import annotations

import unicodedata

# Letters that carry no combining mark to drop: NFKD leaves them whole.
_LETTERS = str.maketrans(
    {
        "ł": "l",
        "Ł": "l",
        "đ": "d",
        "Đ": "d",
        "ø": "o",
        "Ø": "o",
        "ı": "i",
        "æ": "ae",
        "Æ": "ae",
        "œ": "oe",
        "Œ": "oe",
        "þ": "th",
        "Þ": "th",
        "ð": "d",
        "Ð": "d",
    }
)


def fold(text: str | None) -> str:
    """``text`` without diacritics, case-folded, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", (text or "").translate(_LETTERS))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())
