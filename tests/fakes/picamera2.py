"""A stand-in for ``picamera2``, the Raspberry Pi camera library, for tests only.

picamera2 needs libcamera and a Pi camera, neither of which can run here. This module
mirrors the part of its API that ``edge.sources`` uses, with the real library's
behaviour where it matters (raspberrypi/picamera2, ``picamera2/picamera2.py``):

- ``Picamera2.global_camera_info()``: a static method, one dict per attached camera
  (``Model``, ``Location``, ``Rotation``, ``Id``), an empty list when there is none.
- ``Picamera2(camera_num=0)``: opens (acquires) the camera; with no such camera, or one
  already held by another open instance, it raises RuntimeError as the real one does.
- ``create_video_configuration(main={"size": (w, h), "format": "RGB888"})``: a plain
  dict like the real one (``use_case``, ``buffer_count`` 6, ``main``, ``lores``, ``raw``,
  ``controls``, ``display``, ``encode``, ...); sizes are aligned down to even numbers.
- ``configure(config)`` (RuntimeError while started), ``start()`` (RuntimeError when not
  configured), ``stop()``, ``close()`` (stops first; both are idempotent), and the context
  manager.
- ``capture_array(name="main")``: an ``(h, w, 3)`` uint8 array for "RGB888"/"BGR888"
  (``(h, w, 4)`` for the X formats) at the configured size, after one frame interval
  (30 fps, the video configuration's FrameDurationLimits). In picamera2, "RGB888" is
  stored B, G, R per pixel (OpenCV's order) and "BGR888" R, G, B. Before ``start()`` the
  real library waits for a frame that never comes; the stand-in raises RuntimeError
  instead, so a misuse fails a test rather than hanging it.

Test knobs (module globals, reset by ``reset()``): ``CAMERAS`` (what
``global_camera_info`` reports), ``SCENE`` (the BGR picture the camera sees, resized to
the configured size; default: a red scene), ``FAIL_AFTER`` (capture_array raises after
this many frames, like a camera unplugged mid-stream), ``FRAME_INTERVAL`` (seconds) and
``INSTANCES`` (every Picamera2 created, to check they were stopped and closed).
"""
from __future__ import annotations

import threading
import time

import numpy as np

DEFAULT_CAMERA = {"Model": "imx708", "Location": 2, "Rotation": 180,
                  "Id": "/base/axi/pcie@120000/rp1/i2c@88000/imx708@1a"}

CAMERAS: list = []
SCENE = None
FAIL_AFTER = None
FRAME_INTERVAL = 1 / 30
INSTANCES: list = []
_held: set = set()
_lock = threading.Lock()


def reset(cameras=1):
    """Back to ``cameras`` attached cameras, a red scene, no failure, no instances."""
    global SCENE, FAIL_AFTER, FRAME_INTERVAL
    CAMERAS[:] = [dict(DEFAULT_CAMERA, Id=f"{DEFAULT_CAMERA['Id']}#{i}") for i in range(cameras)]
    SCENE, FAIL_AFTER, FRAME_INTERVAL = None, None, 1 / 30
    INSTANCES.clear()
    _held.clear()


reset()

_FORMATS = {"RGB888": 3, "BGR888": 3, "XBGR8888": 4, "XRGB8888": 4, "YUV420": None}


class Picamera2:
    """The stand-in camera; see the module docstring for what it mirrors."""

    @staticmethod
    def global_camera_info() -> list:
        return [dict(c) for c in CAMERAS]

    def __init__(self, camera_num=0, verbose_console=None, tuning=None):
        self.camera_idx = camera_num
        self.is_open = self.started = False
        self.camera_config = None
        self.frames = self.stop_count = self.configure_count = 0
        self.closed_count = 0
        INSTANCES.append(self)
        with _lock:
            if not CAMERAS or not 0 <= camera_num < len(CAMERAS) or camera_num in _held:
                # the real library logs the cause and raises this one error
                raise RuntimeError("Camera __init__ sequence did not complete.")
            _held.add(camera_num)
        self.is_open = True
        self.sensor_resolution = (4608, 2592)

    # -- configuration ------------------------------------------------------------------

    def _stream(self, defaults: dict, given) -> dict | None:
        if given is None:
            return None
        stream = {**defaults, **given}
        w, h = stream["size"]
        stream["size"] = (int(w) - int(w) % 2, int(h) - int(h) % 2)
        return stream

    def create_video_configuration(self, main={}, lores=None, raw={}, transform=None,
                                   colour_space=None, buffer_count=6, controls={},
                                   display="main", encode="main", queue=True) -> dict:
        if not self.is_open:
            raise RuntimeError("Camera not opened")
        main = self._stream({"format": "XBGR8888", "size": (1280, 720)}, main)
        lores = self._stream({"format": "YUV420", "size": main["size"]}, lores)
        raw = self._stream({"format": "SBGGR10_CSI2P", "size": main["size"]}, raw)
        return {"use_case": "video", "transform": transform or "Transform(identity)",
                "colour_space": colour_space or ("Smpte170m" if main["size"][0] < 1280 else "Rec709"),
                "buffer_count": buffer_count, "queue": queue, "main": main, "lores": lores,
                "raw": raw, "controls": {"NoiseReductionMode": "Fast",
                                         "FrameDurationLimits": (33333, 33333), **controls},
                "display": display, "encode": encode}

    def create_preview_configuration(self, main={}, **kwargs) -> dict:
        config = self.create_video_configuration({"format": "XBGR8888", "size": (640, 480), **main},
                                                 **kwargs)
        config.update(use_case="preview", buffer_count=kwargs.get("buffer_count", 4))
        return config

    def configure(self, camera_config="preview") -> None:
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        if not self.is_open:
            raise RuntimeError("Camera not opened")
        if camera_config in (None, "preview", "video", "still"):
            camera_config = self.create_preview_configuration()
        camera_config = dict(camera_config)
        for key in ("colour_space", "transform", "main", "lores", "raw"):
            if key not in camera_config:
                raise RuntimeError(f"{key!r} key expected in camera configuration")
        main = camera_config["main"]
        if main.get("format") not in _FORMATS:
            raise RuntimeError(f"Bad format {main.get('format')} in stream main")
        size = main.get("size")
        if type(size) is not tuple or len(size) != 2:
            raise RuntimeError("size in main stream should be (width, height)")
        if size[0] % 2 or size[1] % 2:
            raise RuntimeError("width and height should be even")
        main["stride"] = size[0] * (_FORMATS[main["format"]] or 1)
        self.camera_config = camera_config
        self.configure_count += 1

    def camera_configuration(self) -> dict:
        return self.camera_config

    # -- running ------------------------------------------------------------------------

    def start(self, config=None, show_preview=False) -> None:
        if self.camera_config is None and config is None:
            config = "preview"
        if config is not None:
            self.configure(config)
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        self.started = True

    def capture_array(self, name="main", wait=None, signal_function=None) -> np.ndarray:
        if not self.is_open:
            raise RuntimeError("Camera not opened")
        if not self.started:
            raise RuntimeError("Camera has not been started (the real picamera2 would wait "
                               "for a frame forever)")
        stream = self.camera_config.get(name)
        if stream is None:
            raise RuntimeError(f"Stream {name} was not defined")
        if FAIL_AFTER is not None and self.frames >= FAIL_AFTER:
            raise RuntimeError("Camera frontend has timed out!")
        time.sleep(FRAME_INTERVAL)
        self.frames += 1
        w, h = stream["size"]
        scene = SCENE if SCENE is not None else np.full((h, w, 3), (0, 0, 255), np.uint8)
        if scene.shape[:2] != (h, w):
            import cv2
            scene = cv2.resize(scene, (w, h), interpolation=cv2.INTER_AREA)
        fmt = stream["format"]
        if fmt == "RGB888":        # stored B, G, R: OpenCV's order
            out = scene
        elif fmt == "BGR888":      # stored R, G, B
            out = scene[..., ::-1]
        elif fmt == "XBGR8888":    # R, G, B, X in memory
            out = np.dstack([scene[..., ::-1], np.full((h, w), 255, np.uint8)])
        elif fmt == "XRGB8888":    # B, G, R, X in memory
            out = np.dstack([scene, np.full((h, w), 255, np.uint8)])
        else:
            raise RuntimeError(f"capture_array of {fmt} is not mirrored by the stand-in")
        return np.ascontiguousarray(out, dtype=np.uint8)

    def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        self.stop_count += 1

    def close(self) -> None:
        if not self.is_open:
            return
        self.stop()
        self.is_open = False
        self.closed_count += 1
        with _lock:
            _held.discard(self.camera_idx)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
