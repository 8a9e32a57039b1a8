"""Times as people type them: a date ("2025-06-01", "2025-06-01 08:30") or a duration
back from now ("90s", "45m", "2h", "7d", "1w"), for ``edge-gallery sightings --since``
and the web view's ``since``."""
from __future__ import annotations

import re
import time
from datetime import datetime

from .errors import GalleryError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


def since(text: str, now: float | None = None) -> float:
    """Seconds since 1970 of ``text``: a duration back from ``now`` (default: the
    clock), or an ISO date or date and time, local unless it gives its offset.
    GalleryError (one line, with examples) for anything else."""
    text = str(text).strip()
    now = time.time() if now is None else float(now)
    found = _DURATION.fullmatch(text.lower())
    if found:
        return now - float(found.group(1)) * UNITS[found.group(2)]
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise GalleryError(f"cannot read {text[:40]!r} as a time: give a date (2025-06-01, "
                           "2025-06-01 08:30) or a duration back from now (90s, 45m, 2h, 7d, "
                           "1w)") from None
