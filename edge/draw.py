"""Drawing boxes and names on frames (for --save-video and the web view)."""
from __future__ import annotations

import cv2

from edge.track import UNKNOWN

KNOWN, STRANGER = (60, 200, 60), (40, 40, 230)


def annotate(frame, faces):
    """A copy of ``frame`` with each face's box and settled name drawn on it."""
    out = frame.copy()
    for f in faces:
        x1, y1, x2, y2 = (int(round(v)) for v in f.box)
        colour = STRANGER if f.name == UNKNOWN else KNOWN
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, 2)
        label = f.name if f.name == UNKNOWN else f"{f.name} {f.distance:.2f}"
        (w, h), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        y = max(y1, h + 6)
        cv2.rectangle(out, (x1, y - h - 6), (x1 + w + 4, y), colour, -1)
        cv2.putText(out, label, (x1 + 2, y - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return out
