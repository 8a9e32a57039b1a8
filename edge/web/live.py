"""The live feed: the identify loop publishes frames, the web reads the latest one.

``publish`` only keeps a reference (the loop must not wait for the web); a frame is
drawn and JPEG-encoded when someone watches, at most once per frame, on the feed's own
thread (OpenCV keeps some 6 MB of text-drawing state in every thread that draws text;
see ``edge.web.operations``).
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import cv2

from edge.draw import annotate

RECENT = 20  # identifications listed on the live page


class LiveFeed:
    def __init__(self, jpeg_quality: int = 80):
        self.quality = int(jpeg_quality)
        self._cond = threading.Condition()
        self._frame = self._result = None
        self._seq = 0
        self._jpeg = (None, b"")          # (sequence number, bytes)
        self._tracks: dict[int, dict] = {}
        self._drawer = ThreadPoolExecutor(1, thread_name_prefix="edge-live-draw")
        self.closed = False

    @property
    def live(self) -> bool:
        """True once a frame has been published."""
        return self._frame is not None

    def publish(self, frame_bgr, frame_result) -> None:
        with self._cond:
            self._frame, self._result = frame_bgr, frame_result
            self._seq += 1
            if frame_result.detected:
                self._remember(frame_result)
            self._cond.notify_all()

    def _remember(self, result) -> None:
        for f in result.faces:
            seen = self._tracks.setdefault(f.track, {"track": f.track, "first_seen": result.time})
            seen.update(name=f.name, last_seen=result.time,
                        distance=None if f.distance != f.distance else round(f.distance, 4))
        if len(self._tracks) > RECENT:
            for t in sorted(self._tracks, key=lambda t: self._tracks[t]["last_seen"])[:-RECENT]:
                del self._tracks[t]

    def frame(self):
        """The latest raw frame (BGR), or None."""
        with self._cond:
            return self._frame

    def latest(self) -> dict:
        """The latest frame's result and the recent identifications, newest first."""
        with self._cond:
            result = self._result.as_dict() if self._result is not None else None
            recent = sorted(self._tracks.values(), key=lambda s: -s["last_seen"])
            return {"live": self.live, "frame": result, "recent": [dict(s) for s in recent]}

    def jpeg(self) -> tuple[int, bytes]:
        """(sequence number, JPEG of the latest frame with boxes and names)."""
        with self._cond:
            if self._frame is None or self._jpeg[0] == self._seq:
                return self._jpeg if self._frame is not None else (0, b"")
        return self._drawer.submit(self._draw).result()

    def _draw(self) -> tuple[int, bytes]:
        with self._cond:
            seq, frame, result = self._seq, self._frame, self._result
            if self._jpeg[0] == seq:
                return self._jpeg
        ok, buf = cv2.imencode(".jpg", annotate(frame, result.faces),
                               [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        with self._cond:
            if ok and (self._jpeg[0] or 0) < seq:
                self._jpeg = (seq, buf.tobytes())
            return self._jpeg

    def wait(self, after: int, timeout: float = 1.0) -> None:
        """Block until a frame newer than ``after`` arrives (or timeout, or close)."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > after or self.closed, timeout)

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def mjpeg(self, max_fps: float = 15.0, keepalive: float = 5.0):
        """Chunks of a multipart/x-mixed-replace stream, one JPEG part per new frame, and
        the latest one again after ``keepalive`` seconds without a new one: so a viewer
        who left is noticed (and their worker freed) even when the source has stopped."""
        sent, gap, last = 0, 1.0 / max_fps, 0.0
        while not self.closed:
            self.wait(sent)
            seq, data = self.jpeg()
            if not data or (seq <= sent and time.monotonic() - last < keepalive):
                continue
            sent, last = seq, time.monotonic()
            yield (b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                   + str(len(data)).encode() + b"\r\n\r\n" + data + b"\r\n")
            time.sleep(gap)
