"""Frame sources (edge.sources): still images, video files, the newest-frame reader of
live sources, and the Pi camera through a picamera2 stand-in.

picamera2 needs libcamera and a Pi camera, which cannot run here: ``tests/fakes/picamera2.py``
is a stand-in that mirrors the API ``edge.sources`` uses (``Picamera2(camera_num)``,
``global_camera_info()``, ``create_video_configuration(main={"size", "format"})``,
``configure``, ``start``, ``capture_array("main")`` with "RGB888" stored B, G, R, ``stop``,
``close``). It is put in ``sys.modules`` only inside the tests that use it.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.sources import (FileSource, ImageSource, Latest, LiveSource, SourceError,
                          open_source)
from tests.conftest import ROOT, need_data
from tests.edge_support import BUNDLE, error_lines

pytestmark = pytest.mark.edge

FAKES = Path(__file__).parent / "fakes"


def load_fake_picamera2():
    spec = importlib.util.spec_from_file_location("picamera2", FAKES / "picamera2.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def picamera2(monkeypatch):
    """The stand-in picamera2, importable as ``picamera2`` for this test only."""
    fake = load_fake_picamera2()
    fake.reset(cameras=1)
    monkeypatch.setitem(sys.modules, "picamera2", fake)
    yield fake
    for cam in fake.INSTANCES:  # never leave a camera held, even when a test failed
        cam.close()


# -- still images -----------------------------------------------------------------------

def test_images_from_a_file_a_folder_and_a_glob(tmp_path):
    orl = need_data("orl", "s1")
    one = ImageSource(str(orl / "1.pgm"))
    frames = list(one)
    assert len(frames) == 1 and frames[0].shape == (112, 92, 3) and frames[0].dtype == np.uint8

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("b.png", "a.jpg"):
        cv2.imwrite(str(folder / name), cv2.imread(str(orl / "2.pgm")))
    shutil.copy(orl / "3.pgm", folder / "c.pgm")
    (folder / "notes.txt").write_text("not a photo")
    (folder / "sub.png").mkdir()  # a folder named like a photo is not one
    source = open_source(images=str(folder))
    assert [p.name for p in source.files] == ["a.jpg", "b.png", "c.pgm"]
    seen = []
    for frame in source:
        seen.append(source.current.name)
        assert frame.ndim == 3 and frame.shape[2] == 3
    assert seen == ["a.jpg", "b.png", "c.pgm"] and not source.live

    pattern = open_source(images=str(orl / "1*.pgm"))
    assert [p.name for p in pattern.files] == ["1.pgm", "10.pgm"]
    assert len(list(pattern)) == 2


def test_missing_or_unusable_sources_raise_source_error(tmp_path):
    with pytest.raises(SourceError, match="no images found"):
        open_source(images=str(tmp_path / "nothing-here"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no images found"):
        open_source(images=str(tmp_path / "empty"))
    with pytest.raises(SourceError, match="no such video file"):
        open_source(video=str(tmp_path / "missing.mp4"))
    (tmp_path / "not-a-video.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(SourceError, match="cannot open"):
        open_source(video=str(tmp_path / "not-a-video.mp4"))
    with pytest.raises(SourceError, match="exactly one"):
        open_source(images=str(tmp_path), video="x.mp4")
    with pytest.raises(SourceError, match="exactly one"):
        open_source()
    with pytest.raises(SourceError, match="device number or 'pi'"):
        open_source(camera="front")


def test_a_corrupt_photo_in_a_folder_is_reported_and_the_rest_read(tmp_path):
    orl = need_data("orl", "s1")
    cv2.imwrite(str(tmp_path / "a.png"), cv2.imread(str(orl / "1.pgm")))
    good = (tmp_path / "a.png").read_bytes()
    (tmp_path / "b.png").write_bytes(good[: len(good) // 3])  # truncated
    (tmp_path / "c.png").write_bytes(good)
    said = []
    source = open_source(images=str(tmp_path))
    source.on_error = said.append
    shown = [(source.current.name, frame.shape[:2]) for frame in source]
    assert shown == [("a.png", (112, 92)), ("c.png", (112, 92))]
    assert source.errors == said and len(said) == 1 and "b.png" in said[0]


# -- video files ------------------------------------------------------------------------

def test_a_video_file_gives_every_frame_in_order(tmp_path):
    path = tmp_path / "count.mp4"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 12.0, (160, 120))
    for i in range(20):
        frame = np.zeros((120, 160, 3), np.uint8)
        frame[:, : 8 * (i + 1)] = 255  # a white bar that grows by 8 px per frame
        out.write(frame)
    out.release()
    source = open_source(video=str(path))
    assert isinstance(source, FileSource) and not source.live
    assert source.fps == pytest.approx(12.0, rel=0.01)
    bars = [int((f[60, :, 1] > 128).sum()) for f in source]
    source.close()
    assert len(bars) == 20
    assert all(abs(b - 8 * (i + 1)) <= 2 for i, b in enumerate(bars)), bars


# -- live sources: only the newest frame ------------------------------------------------

def test_latest_keeps_only_the_newest_frame():
    """Several frames arrive while the consumer is busy: the next read is the newest of
    them (sequence numbers skip), nothing queues up, and with no newer frame a read waits
    and then gives up. The producer is gated, so the test does not depend on timing."""
    gate = threading.Semaphore(0)
    produced = []

    def grab():
        gate.acquire()
        produced.append(len(produced) + 1)
        return np.array([produced[-1]])

    latest = Latest(grab, "fast producer", timeout=0.3)
    try:
        seq, seqs = 0, []
        for burst in (5, 1, 7):
            for _ in range(burst):
                gate.release()
            deadline = time.monotonic() + 5
            while latest._seq < sum(seqs[-1:]) + burst and time.monotonic() < deadline:
                time.sleep(0.005)
            seq, frame = latest.read(seq)
            assert int(frame[0]) == seq == len(produced)  # the newest frame, by number
            seqs.append(seq)
        assert seqs == [5, 6, 13]
        with pytest.raises(SourceError, match="fast producer: no frame for"):
            latest.read(seq)  # nothing newer: wait, then say so
    finally:
        latest._stop.set()
        gate.release()
        latest.stop()
    assert not latest._thread.is_alive()


def test_latest_waits_for_a_newer_frame_than_the_last_read():
    ticks = iter(range(1, 1000))

    def grab():
        time.sleep(0.02)
        return np.array([next(ticks)])

    latest = Latest(grab, "slow producer", timeout=2)
    try:
        seq, _ = latest.read(0)
        again, _ = latest.read(seq)  # blocks until a newer frame exists
        assert again > seq
    finally:
        latest.stop()


def test_a_source_that_stops_or_fails_or_stalls_is_a_source_error():
    frames = iter([np.zeros(1)] * 3)
    latest = Latest(lambda: next(frames, None), "camera 9", timeout=2)
    seq = 0
    with pytest.raises(SourceError, match="camera 9: stopped delivering frames"):
        for _ in range(10):
            seq, _ = latest.read(seq)
    latest.stop()

    def broken():
        raise OSError("USB device disconnected")

    latest = Latest(broken, "camera 8", timeout=2)
    with pytest.raises(SourceError, match="camera 8: USB device disconnected"):
        latest.read(0)
    latest.stop()

    stall = threading.Event()
    latest = Latest(lambda: stall.wait(5) and None, "camera 7", timeout=0.3)
    started = time.monotonic()
    with pytest.raises(SourceError, match="camera 7: no frame"):
        latest.read(0)
    assert time.monotonic() - started < 2
    stall.set()
    latest.stop()


def test_live_source_close_stops_the_reader_and_releases_the_device():
    released = []
    source = LiveSource(lambda: (time.sleep(0.005), np.zeros((4, 4, 3), np.uint8))[1],
                        lambda: released.append(True), "test camera")
    frames = iter(source)
    assert next(frames).shape == (4, 4, 3)
    source.close()
    assert released == [True] and not source._latest._thread.is_alive()


# -- the Pi camera (stand-in) -----------------------------------------------------------

def test_auto_camera_picks_picamera2_when_it_reports_a_camera(picamera2):
    scene = np.zeros((240, 320, 3), np.uint8)
    scene[:, :160] = (255, 0, 0)    # left half blue (BGR)
    scene[:, 160:] = (0, 0, 255)    # right half red
    picamera2.SCENE = scene
    source = open_source(camera="auto", size=(320, 240))
    try:
        assert isinstance(source, LiveSource) and source.live and source.name == "Pi camera 0"
        cam = picamera2.INSTANCES[-1]
        assert cam.started and cam.camera_config["main"] == {
            "format": "RGB888", "size": (320, 240), "stride": 960}
        assert cam.camera_config["use_case"] == "video"
        frames = iter(source)
        for _ in range(3):
            frame = next(frames)
            assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8
            assert tuple(frame[120, 40]) == (255, 0, 0)     # blue stays blue: BGR out
            assert tuple(frame[120, 280]) == (0, 0, 255)    # red stays red
    finally:
        source.close()
    assert not cam.started and not cam.is_open
    assert cam.stop_count == 1 and cam.closed_count == 1
    # the camera was released: it can be opened again
    open_source(camera="pi", size=(64, 48)).close()


def test_odd_sizes_are_aligned_like_picamera2_does(picamera2):
    source = open_source(camera="pi", size=(321, 241))
    try:
        assert next(iter(source)).shape == (240, 320, 3)
    finally:
        source.close()


def test_auto_camera_without_a_pi_camera_falls_back_to_opencv(picamera2, monkeypatch):
    picamera2.reset(cameras=0)
    opened = []

    def fake_capture(target, size=None, live=True):
        opened.append((target, size))
        raise SourceError(f"camera {target}: cannot open (no such camera, file or stream)")

    monkeypatch.setattr("edge.sources.open_capture", fake_capture)
    with pytest.raises(SourceError, match="camera 0: cannot open"):
        open_source(camera="auto", size=(320, 240))
    assert opened == [(0, (320, 240))] and picamera2.INSTANCES == []


def test_pi_camera_problems_are_source_errors(picamera2, monkeypatch):
    picamera2.reset(cameras=0)
    with pytest.raises(SourceError, match=r"Pi camera 0: cannot start \(Camera __init__"):
        open_source(camera="pi")
    monkeypatch.setitem(sys.modules, "picamera2", None)  # not installed at all
    with pytest.raises(SourceError, match="picamera2 is not installed"):
        open_source(camera="pi")


def test_fake_camera_refuses_capture_before_start(picamera2):
    """The stand-in itself behaves like the library: configure, start, capture, stop."""
    cam = picamera2.Picamera2(camera_num=0)
    config = cam.create_video_configuration(main={"size": (64, 48), "format": "RGB888"})
    assert config["main"] == {"size": (64, 48), "format": "RGB888"} and config["buffer_count"] == 6
    cam.configure(config)
    with pytest.raises(RuntimeError, match="not been started"):
        cam.capture_array("main")
    cam.start()
    with pytest.raises(RuntimeError, match="stopped before configuring"):
        cam.configure(config)
    assert cam.capture_array("main").shape == (48, 64, 3)
    with pytest.raises(RuntimeError):
        picamera2.Picamera2(0)  # held by ``cam``
    cam.close()
    assert picamera2.Picamera2.global_camera_info()[0]["Model"] == "imx708"


@pytest.fixture
def gallery_file(tmp_path):
    """An empty gallery (edge-identify refuses one that does not exist)."""
    from gallery import Gallery

    with Gallery(tmp_path / "gallery.db") as g:
        return g.path


def test_edge_identify_exits_non_zero_when_the_camera_stops(picamera2, gallery_file):
    """The Pi camera dies after three frames: edge-identify prints what it saw, then one
    clear line, and exits 1."""
    from click.testing import CliRunner

    from edge.cli_identify import main

    picamera2.FAIL_AFTER = 3
    result = CliRunner().invoke(main, ["--camera", "--json", "--every", "1", "--size", "160x120",
                                       "--gallery", str(gallery_file), "--threads", "1",
                                       "--bundle", BUNDLE])
    assert result.exit_code == 1, result.output
    assert 1 <= len(result.stdout.strip().splitlines()) <= 3  # a JSON line per frame read
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: Pi camera 0:"), result.stderr
    assert "timed out" in lines[0] and "Traceback" not in result.output
    cam = picamera2.INSTANCES[-1]
    assert not cam.is_open  # released on the way out


def test_edge_identify_camera_failure_in_a_real_process(tmp_path, gallery_file):
    """The same in a fresh interpreter, with the stand-in on its path: exit status 1 and
    one ``Error:`` line on stderr, no traceback."""
    code = ("import picamera2; picamera2.FAIL_AFTER = 2\n"
            "from edge.cli_identify import main\n"
            f"main(['--camera', 'pi', '--size', '160x120', '--bundle', {BUNDLE!r},\n"
            f"      '--gallery', {str(gallery_file)!r}])\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FAKES), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    errors = error_lines(proc.stderr)
    assert len(errors) == 1 and errors[0].startswith("Error: Pi camera 0:"), proc.stderr
    assert "Traceback" not in proc.stderr
