"""edge-identify --mqtt (edge.mqtt): Home Assistant over MQTT, against a real Mosquitto
broker on a free loopback port, watched by a real paho client.

Mosquitto must be installed (CI installs it in .ci/run): without it these tests fail,
they never skip. The clips are real ORL faces, as in tests/test_tracking.py.
"""
from __future__ import annotations

import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from edge.decisions import Decision
from edge.mqtt_messages import slug
from edge.pipeline import FrameResult
from tests.edge_support import BUNDLE, ENV, orl
from tests.test_tracking import face, frame, gallery, pipeline  # noqa: F401 (fixtures)

MOSQUITTO = "/usr/sbin/mosquitto"
PASSWD = "/usr/bin/mosquitto_passwd"


class Broker:
    """A Mosquitto broker on a free loopback port (the same one when restarted), keeping
    its sessions and retained messages across a restart. ``users``: name -> password
    (none: anyone may connect)."""

    def __init__(self, folder: Path, users: dict | None = None):
        assert Path(MOSQUITTO).is_file(), \
            f"{MOSQUITTO} missing: the MQTT tests need a real broker (apt-get install mosquitto)"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        folder.mkdir(parents=True, exist_ok=True)
        self.conf, self.log, self.proc = folder / "mosquitto.conf", folder / "mosquitto.log", None
        lines = [f"listener {self.port} 127.0.0.1", f"user {pwd.getpwuid(os.getuid()).pw_name}",
                 "persistence true", f"persistence_location {folder}/"]
        if users:
            passwords = folder / "passwords"
            for i, (name, secret) in enumerate(users.items()):
                subprocess.run([PASSWD, "-b", *(["-c"] if i == 0 else []), str(passwords),
                                name, secret], check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        self.conf.write_text("\n".join(lines) + "\n")
        self.start()

    def url(self, user: str = "") -> str:
        return f"mqtt://{user + '@' if user else ''}127.0.0.1:{self.port}"

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"mosquitto did not listen on {self.port}: {self.log.read_text()}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Watcher:
    """A paho client subscribed to every topic with a session the broker keeps (so a
    broker restart loses nothing for it), keeping (topic, payload, retained) in order."""

    def __init__(self, broker: Broker, user=None, password=None, keep: bool = True):
        import paho.mqtt.client as mqtt

        self.messages, self._lock = [], threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"watcher-{id(self)}", clean_session=not keep)
        if user:
            self.client.username_pw_set(user, password)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe("#", qos=1)
        self.client.on_message = self._keep
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "the watcher could not subscribe"

    def _keep(self, client, userdata, message):
        with self._lock:
            self.messages.append((message.topic, message.payload.decode(), message.retain))

    def on(self, topic: str) -> list[str]:
        with self._lock:
            return [p for t, p, _ in self.messages if t == topic]

    def wait(self, check, what: str, timeout: float = 20):
        """Wait until ``check(self)`` is true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check(self):
                return
            time.sleep(0.05)
        raise AssertionError(f"no {what} within {timeout} s; got {self.messages}")

    def retained(self, settle: float = 0.5) -> dict:
        """topic -> payload of the retained messages (a fresh watcher's first ones)."""
        time.sleep(settle)
        with self._lock:
            return {t: p for t, p, r in self.messages if r}

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path / "broker")
    yield b
    b.stop()


@pytest.fixture
def watcher(broker):
    w = Watcher(broker)
    yield w
    w.close()


def output(broker, camera="door", **kwargs):
    from edge.mqtt import MqttOutput, parse_url

    return MqttOutput(parse_url(broker.url()), camera, **kwargs)


def decision(track, name="unknown", kind="settled"):
    return Decision(kind, track, name, 0.9, 0.1, (10, 20, 110, 140), time.time())


ONLINE = "siamese-edge/door/availability"


# -- the broker's address --------------------------------------------------------------------

def test_broker_urls_and_their_mistakes():
    from edge.mqtt import Broker as Address
    from edge.mqtt import MqttError, parse_url

    assert parse_url("mqtt://broker.lan") == Address("broker.lan", 1883)
    assert parse_url("mqtts://ha@broker.lan", "s3cret") == \
        Address("broker.lan", 8883, True, "ha", "s3cret")
    # the URL's own password first, %-escaped; never shown
    url = parse_url("mqtt://ha:p%40ss@10.0.0.2:1884/", "other")
    assert (url.user, url.password, url.port) == ("ha", "p@ss", 1884)
    assert str(url) == "mqtt://ha@10.0.0.2:1884"
    assert parse_url("mqtt://broker.lan", "unused").password is None   # no user, no password
    for bad, reason in (("http://broker.lan", "expected mqtt://"), ("broker.lan", "expected"),
                        ("mqtt://ha:pw@broker.lan:99999", "port is not a number"),
                        ("mqtt://broker.lan/topic", "expected")):
        with pytest.raises(MqttError, match=reason) as caught:
            parse_url(bad)
        assert "pw" not in str(caught.value)


# -- Home Assistant discovery ----------------------------------------------------------------

def test_discovery_configs_are_retained_json_with_unique_ids_and_availability(broker, watcher):
    out = output(broker, "front door", people=lambda: ["Ada", "Zoë", "zoe"])
    try:
        watcher.wait(lambda w: w.on("siamese-edge/front door/unknown"), "stranger sensor state")
        fresh = Watcher(broker, keep=False)
        retained = fresh.retained()
        fresh.close()
    finally:
        out.close()
    configs = {t: json.loads(p) for t, p in retained.items() if t.startswith("homeassistant/")}
    people = {t: c for t, c in configs.items() if t.startswith("homeassistant/sensor/")}
    [(unknown_topic, unknown)] = [(t, c) for t, c in configs.items() if t not in people]
    assert unknown_topic == "homeassistant/binary_sensor/siamese_edge_front_door/unknown/config"
    assert sorted(c["name"] for c in people.values()) == \
        ["Ada last seen", "Zoë last seen", "zoe last seen"]
    ids = [c["unique_id"] for c in configs.values()]
    assert len(set(ids)) == 4, ids              # Zoë and zoe are two people
    for topic, config in people.items():
        assert topic == f"homeassistant/sensor/siamese_edge/{topic.split('/')[3]}/config"
        assert config["state_topic"] == config["json_attributes_topic"]
        assert config["device_class"] == "timestamp" and config["device"]["identifiers"]
    assert unknown["availability_topic"] == "siamese-edge/front door/availability"
    assert (unknown["payload_available"], unknown["payload_not_available"]) == ("online", "offline")
    assert unknown["state_topic"] == "siamese-edge/front door/unknown" and unknown["off_delay"] == 300
    assert retained[unknown["availability_topic"]] == "online"
    assert retained[unknown["state_topic"]] == "OFF"


def test_people_enrolled_or_removed_while_running_appear_and_disappear(broker, watcher,
                                                                        tmp_path):
    from edge.api import enrol
    from edge.mqtt import GalleryPeople
    from gallery import Gallery

    path = tmp_path / "gallery.db"
    enrol("s1", orl(1, 1), gallery=path, bundle=BUNDLE)
    config = {n: f"homeassistant/sensor/siamese_edge/{slug(n, unique=True)}/config"
              for n in ("s1", "Zoë")}
    out = output(broker, people=GalleryPeople(path), poll=0)
    try:
        watcher.wait(lambda w: w.on(config["s1"]), "s1's config")
        enrol("Zoë", orl(5, 1), gallery=path, bundle=BUNDLE)
        out.publish(FrameResult(0, time.time(), False))     # the gallery is looked at
        watcher.wait(lambda w: w.on(config["Zoë"]), "Zoë's config")
        assert json.loads(watcher.on(config["Zoë"])[-1])["name"] == "Zoë last seen"
        with Gallery(path) as g:
            g.remove("s1")
        out.publish(FrameResult(1, time.time(), False))
        watcher.wait(lambda w: w.on(config["s1"])[-1] == "", "s1's config cleared")
        fresh = Watcher(broker, keep=False)
        retained = fresh.retained()
        fresh.close()
    finally:
        out.close()
    assert config["Zoë"] in retained and config["s1"] not in retained


# -- decisions ------------------------------------------------------------------------------------

def test_a_clip_with_someone_enrolled_and_a_stranger(broker, watcher, pipeline, gallery):
    """Thirty frames: s1 throughout, a stranger for the first twelve. One event per
    decision (s1 and the stranger settle, the stranger leaves), never per frame."""
    from edge.mqtt import GalleryPeople

    out = output(broker, people=GalleryPeople(gallery))
    watcher.wait(lambda w: w.on(ONLINE), "online")
    ada, stranger = face(1), face(30)
    for i in range(30):
        placed = [(ada, 100 + 3 * i, 150)] + ([(stranger, 420, 120)] if i < 12 else [])
        out.publish(pipeline.process(frame(*placed)))
    out.close()
    watcher.wait(lambda w: w.on(ONLINE)[-1:] == ["offline"], "offline")

    events = [json.loads(p) for p in watcher.on("siamese-edge/events")]
    assert [(e["kind"], e["name"]) for e in events] == \
        [("settled", "s1"), ("settled", "unknown"), ("ended", "unknown")]
    known = events[0]
    assert set(known) == {"id", "camera", "kind", "track", "name", "known", "distance",
                          "margin", "score", "box", "time", "timestamp"}
    assert known["camera"] == "door" and known["known"] and known["distance"] < 1.0
    assert abs(datetime.fromisoformat(known["time"]).timestamp() - known["timestamp"]) < 0.01
    assert len(known["box"]) == 4 and events[1]["known"] is False
    assert events[2]["id"] == events[1]["id"] != known["id"]

    [s1] = [json.loads(p) for p in watcher.on("siamese-edge/matches/s1")]
    [unknown] = [json.loads(p) for p in watcher.on("siamese-edge/matches/unknown")]
    assert (s1["match"]["name"], s1["match"]["match"], unknown["match"]["match"]) == \
        ("s1", True, False)
    assert 0 < unknown["match"]["confidence"] < s1["match"]["confidence"] <= 100
    assert set(s1["match"]["box"]) == {"top", "left", "width", "height"}
    faces = [json.loads(p) for p in watcher.on("siamese-edge/tracked_object_update")]
    assert [(f["type"], f["name"], f["camera"]) for f in faces] == \
        [("face", "s1", "door"), ("face", None, "door")]
    assert faces[0]["score"] > faces[1]["score"]

    seen = [json.loads(p) for p in watcher.on(f"siamese-edge/people/{slug('s1', unique=True)}")]
    assert [(s["name"], s["camera"], s["kind"]) for s in seen] == [("s1", "door", "settled")]
    assert watcher.on("siamese-edge/door/unknown") == ["OFF", "ON", "OFF"]
    assert watcher.on(ONLINE) == ["online", "offline"]


def test_the_stranger_sensor_turns_off_when_the_last_stranger_leaves_or_after_a_while(
        broker, watcher):
    out = output(broker, unknown_timeout=1)
    try:
        watcher.wait(lambda w: w.on(ONLINE), "online")
        for d in (decision(1), decision(2), decision(1, kind="ended"), decision(3, "s1"),
                  decision(2, "s1", "changed"), decision(4)):
            out.decide(d)
        time.sleep(1.2)
        out.publish(FrameResult(0, time.time(), False))          # 4 stays too long: off
        out.publish(FrameResult(1, time.time(), True, [], [decision(4, kind="ended")]))
        out.publish(FrameResult(2, time.time(), True, [], [decision(5)]))
        time.sleep(1.2)
        out.publish(FrameResult(3, time.time(), False))
    finally:
        out.close()
    watcher.wait(lambda w: w.on(ONLINE)[-1:] == ["offline"], "offline")
    # on with 1, still on when 1 leaves (2 is there), off when 2 turns out to be s1, on
    # with 4, off a second later, nothing when 4 then ends; on with 5, off a second later
    assert watcher.on("siamese-edge/door/unknown") == ["OFF", "ON", "OFF", "ON", "OFF", "ON",
                                                       "OFF"]


def test_a_broker_that_goes_away_and_comes_back(broker, watcher):
    """Identification goes on: the newest decisions wait (five here, the older ones
    dropped and counted), said once when it goes and once when it is back."""
    said = []
    out = output(broker, queue=5, reconnect=(0.2, 1), tell=said.append)
    try:
        watcher.wait(lambda w: w.on(ONLINE), "online")
        out.decide(decision(1))
        watcher.wait(lambda w: w.on("siamese-edge/events"), "the first event")
        broker.stop()
        deadline = time.monotonic() + 10
        while not said and time.monotonic() < deadline:
            time.sleep(0.05)
        for track in range(2, 10):             # eight decisions while it is away
            out.decide(decision(track, "s1" if track == 9 else "unknown"))
        time.sleep(1.5)                        # paho tries again, and again
        assert len(said) == 1 and "identification goes on" in said[0], said
        broker.start()
        watcher.wait(lambda w: len(w.on("siamese-edge/events")) >= 6, "the kept events")
        out.decide(decision(10, kind="ended"))
        watcher.wait(lambda w: len(w.on("siamese-edge/events")) >= 7, "an event after")
    finally:
        out.close()
    tracks = [json.loads(p)["track"] for p in watcher.on("siamese-edge/events")]
    assert tracks == [1, 5, 6, 7, 8, 9, 10]
    assert len(said) == 2 and "5 decisions kept" in said[1] and "3 older dropped" in said[1], said
    assert out.dropped == 3
    # the person seen while it was away: their last-seen state was kept for it too
    assert [json.loads(p)["track"] for p in
            watcher.on(f"siamese-edge/people/{slug('s1', unique=True)}")] == [9]
    # (the broker going down says the last will too, before it goes)
    said_online = watcher.on(ONLINE)
    assert said_online[0] == "online" and said_online[-2:] == ["online", "offline"]


# -- edge-identify --mqtt --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A gallery with s1 enrolled, and clips of s1 and a stranger (s30): 120 frames, and
    600 for a run to be stopped in the middle of."""
    from edge.api import enrol
    from edge.clips import make_clip

    root = tmp_path_factory.mktemp("mqtt-scene")
    enrol("s1", orl(1, 1), gallery=root / "gallery.db", bundle=BUNDLE)
    people = {"s1": [orl(1, i) for i in range(2, 6)], "stranger": [orl(30, i) for i in range(2, 6)]}
    for name, segments in (("clip.mp4", 4), ("long.mp4", 20)):
        make_clip(people, seed=1, segments=segments, frames_per_segment=30,
                  max_faces=2).write(root / name)
    return root


@pytest.fixture
def guarded(tmp_path):
    """A broker that wants a password: edge for edge-identify, ha for the watcher."""
    b = Broker(tmp_path / "broker", users={"edge": "s3cret pass", "ha": "ha-pass"})
    w = Watcher(b, "ha", "ha-pass")
    yield b, w
    w.close()
    b.stop()


def identify(broker, scene, clip, *args):
    env = {**ENV, "EDGE_MQTT_PASSWORD": "s3cret pass"}
    return subprocess.Popen(
        [sys.executable, "-m", "edge.cli_identify", "--video", str(scene / clip),
         "--gallery", str(scene / "gallery.db"),
         "--bundle", BUNDLE, "--threads", "2", "--mqtt", broker.url("edge"),
         "--camera-name", "porch", "--mqtt-prefix", "home/faces", *args],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_identify_says_its_decisions_and_offline_at_a_clean_exit(guarded, scene):
    broker, watcher = guarded
    proc = identify(broker, scene, "clip.mp4")
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert "MQTT" not in stderr                                   # never away
    events = [json.loads(p) for p in watcher.on("home/faces/events")]
    names = {e["name"] for e in events}
    assert "s1" in names and "unknown" in names and {e["camera"] for e in events} == {"porch"}
    assert watcher.on("home/faces/porch/availability") == ["online", "offline"]
    fresh = Watcher(broker, "ha", "ha-pass", keep=False)
    retained = fresh.retained()
    fresh.close()
    assert retained["home/faces/porch/availability"] == "offline"
    assert "homeassistant/binary_sensor/home_faces_porch/unknown/config" in retained
    assert f"homeassistant/sensor/home_faces/{slug('s1', unique=True)}/config" in retained


def test_a_killed_identify_is_said_offline_by_its_last_will(guarded, scene):
    broker, watcher = guarded
    proc = identify(broker, scene, "long.mp4", "--every", "1")
    try:
        watcher.wait(lambda w: w.on("home/faces/porch/availability"), "online", timeout=120)
        proc.send_signal(signal.SIGSTOP)        # frozen mid-clip: it cannot say a word
        assert proc.poll() is None
        assert watcher.on("home/faces/porch/availability") == ["online"]
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    watcher.wait(lambda w: w.on("home/faces/porch/availability") == ["online", "offline"],
                 "the last will")


def test_mqtt_mistakes_are_one_line_and_edge_imports_without_paho(tmp_path):
    """A bad URL or camera name, and a device without the mqtt extra, each end in one
    line before anything is loaded; edge/ itself imports without paho."""
    code = (
        "import sys; sys.modules['paho'] = None\n"
        "import edge.mqtt, edge.cli_identify\n"
        "from edge.cli_identify import main\n"
        "main([*sys.argv[1:], '--images', '.', '--mqtt', 'mqtt://broker.lan'])\n")
    cases = ((["-c", code], "--mqtt needs the mqtt extra: pip install 'siamese-edge[mqtt]'"),
             (["-m", "edge.cli_identify", "--images", ".", "--mqtt", "http://broker.lan"],
              "--mqtt http://broker.lan: expected mqtt://"),
             (["-m", "edge.cli_identify", "--images", ".", "--mqtt", "mqtt://broker.lan",
               "--camera-name", "front/door"], "--camera-name 'front/door': give a name without /"))
    for args, line in cases:
        proc = subprocess.run([sys.executable, *args], env=ENV, capture_output=True, text=True,
                              timeout=60, cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: {line}"), proc.stderr
