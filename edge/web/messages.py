"""What the web view says when it refuses something: the reason, without server paths.

The library's messages (``edge.enroll``, ``gallery``) name the gallery's file, as the
commands should; a browser or a script on another machine has no business learning
where files lie on the device. ``public`` names the gallery by its file name alone
("gallery.db"), its folder as "the gallery's folder", and puts "…" for any other
absolute path.
"""
from __future__ import annotations

import re
from pathlib import Path

# "/x..." or "C:\x..." at the start of a word, quote or bracket; "50/60" is not a path
ABSOLUTE = re.compile(r"(?<![\w.~/\\-])(?:/|[A-Za-z]:\\)[^\s'\"]+")


def public(message, gallery_path: Path | None = None) -> str:
    """``message`` (text or an exception) fit to send: no absolute path left in it."""
    text = str(message)
    if gallery_path is not None:
        known = {}
        for path in (Path(gallery_path), Path(gallery_path).resolve()):
            known[str(path)] = path.name
            known[str(path.parent)] = "the gallery's folder"
        for path in sorted(known, key=len, reverse=True):    # the file before its folder
            if path not in (".", "/"):
                text = text.replace(path, known[path])
    return ABSOLUTE.sub("…", text)
