"""What makes a good name: any script, NFC, trimmed, at most 64 characters, no controls."""
from __future__ import annotations

import unicodedata

from .errors import InvalidName

MAX_LENGTH = 64
# Joiners are category Cf but spell Persian, Indic and emoji names correctly.
_ALLOWED_FORMAT = {"\u200c", "\u200d"}  # ZERO WIDTH NON-JOINER, ZERO WIDTH JOINER


def clean_name(name: str) -> str:
    """The stored form of ``name``: NFC, leading/trailing whitespace stripped.

    Refused (InvalidName): not a string, empty after stripping, longer than 64
    characters, or holding a character of Unicode category C* (control, format,
    surrogate, private use, unassigned) other than the two zero-width joiners.
    """
    if not isinstance(name, str):
        raise InvalidName(f"a name must be text, not {type(name).__name__}")
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise InvalidName("a name cannot be empty")
    if len(name) > MAX_LENGTH:
        raise InvalidName(f"name {name[:20]!r}... is {len(name)} characters long; "
                          f"the limit is {MAX_LENGTH}")
    for ch in name:
        if unicodedata.category(ch).startswith("C") and ch not in _ALLOWED_FORMAT:
            raise InvalidName(f"name {name!r} holds the control character "
                              f"U+{ord(ch):04X}; use printable characters only")
    return name
