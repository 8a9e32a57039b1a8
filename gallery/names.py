"""What makes a good name, and when two names are one person's.

A name is stored as given, cleaned (``clean_name``): NFC, trimmed, at most 64
characters, in any script, with something visible in it. Two names are one person's
when their keys (``name_key``) are equal: without regard to case, Unicode form (the
compatibility forms too: full-width "ＡＤＡ" is "ADA"), runs of spaces and zero-width
joiners. So "Alan Turing", "alan turing" and "ALAN  TURING" are one person, stored
in the spelling they were first enrolled with.

Invisible characters are refused, not stripped: a zero-width space, a word joiner, a
byte order mark, a soft hyphen, a direction override or a Hangul filler in a name comes
from pasting or from someone making a look-alike, and stripping it would store, without
a word, a name other than the one given. The two zero-width joiners are the exception:
they spell Persian, Indic and emoji names, so they are kept between two characters (and
ignored when names are compared).
"""
from __future__ import annotations

import unicodedata

from .errors import AmbiguousName, InvalidName

MAX_LENGTH = 64
JOINERS = {"\u200c", "\u200d"}  # ZERO WIDTH NON-JOINER, ZERO WIDTH JOINER
# Letters and symbols that show nothing (used to make blank or look-alike names).
INVISIBLE = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}  # Hangul fillers, braille blank


def _code(ch: str) -> str:
    label = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" ({label})" if label else "")


def _visible(ch: str) -> bool:
    kind = unicodedata.category(ch)
    return (kind[0] in "LNPS" and ch not in INVISIBLE) or kind == "Mc"


def clean_name(name: str) -> str:
    """The stored form of ``name``: NFC, leading/trailing whitespace stripped.

    Refused (InvalidName): not a string; empty after stripping; nothing visible in it
    (only spaces, joiners, combining marks...); longer than 64 characters; a combining
    mark first; a control, format, line-break, private-use or unassigned character or
    an invisible filler anywhere; a zero-width joiner other than between two
    characters that are neither spaces nor joiners.
    """
    if not isinstance(name, str):
        raise InvalidName(f"a name must be text, not {type(name).__name__}")
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise InvalidName("a name cannot be empty")
    if not any(map(_visible, name)):
        codes = ", ".join(f"U+{ord(ch):04X}" for ch in name[:8])
        raise InvalidName(f"a name needs a visible character; this one holds only {codes}")
    if len(name) > MAX_LENGTH:
        raise InvalidName(f"name {name[:20]!r}... is {len(name)} characters long; "
                          f"the limit is {MAX_LENGTH}")
    if unicodedata.category(name[0]).startswith("M"):
        raise InvalidName(f"name {name!r} begins with the combining mark {_code(name[0])}")
    for i, ch in enumerate(name):
        kind = unicodedata.category(ch)
        if ch in JOINERS:
            if not all(0 <= j < len(name) and not name[j].isspace()
                       and name[j] not in JOINERS for j in (i - 1, i + 1)):
                raise InvalidName(f"name {name!r} holds {_code(ch)} where it joins nothing; "
                                  "a joiner goes between two characters")
        elif kind == "Cc":
            raise InvalidName(f"name {name!r} holds the control character U+{ord(ch):04X}; "
                              "use printable characters only")
        elif kind[0] == "C" or kind in ("Zl", "Zp") or ch in INVISIBLE:
            what = "invisible control character" if kind == "Cf" else "invisible character"
            raise InvalidName(f"name {name!r} holds the {what} {_code(ch)}; "
                              "type the name again without it")
    return name


def name_key(name: str) -> str:
    """What two names of one person have in common: ``name`` in NFKC, case-folded,
    without zero-width joiners, its runs of whitespace one space, trimmed.
    Any text has a key, cleaned or not (to find people stored by older versions)."""
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return " ".join("".join(ch for ch in text if ch not in JOINERS).split())


def pick(name: str, stored: list[tuple[int, str]], where) -> int | None:
    """Which of ``stored`` (id, name), the people of the gallery ``where`` whose names
    have ``name``'s key, ``name`` means: the one spelt exactly so, else the only one;
    None when there is none. AmbiguousName when several are and none is spelt so."""
    if not stored:
        return None
    exact = [pid for pid, spelt in stored if spelt == name]
    if exact or len(stored) == 1:
        return (exact or [stored[0][0]])[0]
    listed = " or ".join(repr(spelt) for _, spelt in sorted(stored, key=lambda r: r[1]))
    raise AmbiguousName(f"{name!r} could be {listed} in {where}: give the name exactly as "
                        "edge-gallery list shows it")
