"""Where frames come from: the Pi camera (picamera2), a USB webcam or stream (OpenCV),
a video file, or still images. Every source yields BGR uint8 frames.

Live sources are read on their own thread that keeps only the newest frame, so a slow
detection step never builds a backlog; files are read frame by frame, none skipped.
"""
from __future__ import annotations

import glob
import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from edge.images import ImageError, is_image_name, read_image


class SourceError(Exception):
    """A source that cannot be opened or stopped delivering; the message says why."""


class Latest:
    """Reads ``grab()`` on a thread and keeps only the newest frame."""

    def __init__(self, grab, name: str, timeout: float = 5.0):
        self._grab, self.name, self.timeout = grab, name, timeout
        self._frame, self._seq, self._error = None, 0, None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"read {name}", daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                frame = self._grab()
            except Exception as exc:  # the camera library's own failure: report it
                frame, self._error = None, exc
            with self._cond:
                if frame is None:
                    self._error = self._error or SourceError(f"{self.name}: stopped delivering frames")
                    self._cond.notify_all()
                    return
                self._frame, self._seq = frame, self._seq + 1
                self._cond.notify_all()

    def read(self, after: int) -> tuple[int, np.ndarray]:
        """The newest frame newer than sequence number ``after``."""
        deadline = time.monotonic() + self.timeout
        with self._cond:
            while self._seq <= after and self._error is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SourceError(f"{self.name}: no frame for {self.timeout:.0f} s (disconnected?)")
                self._cond.wait(left)
            if self._seq <= after:
                err = self._error
                raise err if isinstance(err, SourceError) else SourceError(f"{self.name}: {err}")
            return self._seq, self._frame

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=2)


class Source:
    """Iterate for frames; ``close()`` (or leaving a ``with`` block) releases the device."""

    live = False
    fps = 0.0
    current = None     # the file the last frame came from (still images)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        pass


class LiveSource(Source):
    """A live source: the newest frame each time, none queued."""

    live = True

    def __init__(self, grab, release, name):
        self.name, self._release = name, release
        self._latest = Latest(grab, name)
        self._seq = 0

    def __iter__(self):
        while True:
            self._seq, frame = self._latest.read(self._seq)
            yield frame

    def close(self):
        self._latest.stop()
        self._release()


def picamera2_available() -> bool:
    try:
        from picamera2 import Picamera2
    except ImportError:
        return False
    try:
        return bool(Picamera2.global_camera_info())
    except Exception:
        return False


def open_picamera(index: int = 0, size=(640, 480)) -> LiveSource:
    """The Pi camera through picamera2: configure, start, capture, stop.

    "RGB888" in picamera2 is stored B, G, R per pixel: OpenCV's order, no conversion.
    """
    try:
        from picamera2 import Picamera2
    except ImportError:
        raise SourceError("Pi camera: picamera2 is not installed (on Raspberry Pi OS: "
                          "sudo apt install python3-picamera2)") from None
    try:
        cam = Picamera2(index)
        cam.configure(cam.create_video_configuration(main={"size": tuple(size), "format": "RGB888"}))
        cam.start()
    except Exception as exc:
        raise SourceError(f"Pi camera {index}: cannot start ({exc})") from None

    def release():
        cam.stop()
        cam.close()

    return LiveSource(lambda: cam.capture_array("main"), release, f"Pi camera {index}")


def open_capture(target, size=None, live=True):
    """An OpenCV capture: a device index, a video file, or an RTSP/HTTP stream."""
    quiet = getattr(getattr(cv2, "utils", None), "logging", None)
    if quiet is not None:  # OpenCV's own warnings would come before our one line
        quiet.setLogLevel(quiet.LOG_LEVEL_ERROR)
    cap = cv2.VideoCapture(target)
    if not cap.isOpened():
        what = f"camera {target}" if isinstance(target, int) else str(target)
        raise SourceError(f"{what}: cannot open (no such camera, file or stream)")
    if size and isinstance(target, int):
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])

    def grab():
        ok, frame = cap.read()
        return frame if ok else None

    name = f"camera {target}" if isinstance(target, int) else str(target)
    if live:
        return LiveSource(grab, cap.release, name)
    return FileSource(grab, cap.release, name, cap.get(cv2.CAP_PROP_FPS) or 0.0)


class FileSource(Source):
    """A video file: every frame in order; the end of the file ends the iteration."""

    def __init__(self, grab, release, name, fps):
        self._grab, self._release, self.name, self.fps = grab, release, name, fps

    def __iter__(self):
        while (frame := self._grab()) is not None:
            yield frame

    def close(self):
        self._release()


class ImageSource(Source):
    """Still images from a file, a folder or a glob pattern, in name order.

    A file that cannot be read as a photo is skipped: its one-line reason goes to
    ``on_error`` (if set) and into ``errors``, and the next file is read.
    """

    def __init__(self, spec: str, on_error=None):
        path = Path(spec)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and is_image_name(p))
        elif path.is_file():
            files = [path]
        else:
            files = sorted(Path(p) for p in glob.glob(spec) if is_image_name(p))
        if not files:
            raise SourceError(f"{spec}: no images found")
        self.files, self.name, self.on_error = files, spec, on_error
        self.errors: list[str] = []

    def __iter__(self):
        for f in self.files:
            try:
                image = read_image(f)
            except ImageError as exc:
                self.errors.append(str(exc))
                if self.on_error is not None:
                    self.on_error(str(exc))
                continue
            self.current = f
            yield image


def is_stream(target: str) -> bool:
    return "://" in target


def open_source(camera=None, video=None, images=None, size=(640, 480)):
    """The source the command line asked for (exactly one of the three)."""
    if sum(x is not None for x in (camera, video, images)) != 1:
        raise SourceError("give exactly one source: --camera, --video or --images")
    if images is not None:
        return ImageSource(images)
    if video is not None:
        if not is_stream(video) and not os.path.isfile(video):
            raise SourceError(f"{video}: no such video file")
        return open_capture(video, live=is_stream(video))
    if camera == "pi" or (camera in ("auto", 0, "0") and picamera2_available()):
        return open_picamera(0, size)
    try:
        index = int(camera) if camera not in ("auto",) else 0
    except ValueError:
        raise SourceError(f"--camera {camera}: expected a device number or 'pi'") from None
    return open_capture(index, size)
