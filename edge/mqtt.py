"""Home Assistant over MQTT: an output of the identify loop (``publish(result)`` after
each frame, ``close()`` at the end), speaking once per decision, never per frame.

    out = MqttOutput(parse_url("mqtt://ha@broker.lan"), "door", people=GalleryPeople(path))
    for frame, result in pipeline.run(source):
        out.publish(result)
    out.close()

What is said is ``edge.mqtt_messages`` (docs/home-assistant.md). paho-mqtt does the
connection's work: its last will says ``offline`` when the process dies without a word,
``loop_start`` keeps the network in its own thread, and it reconnects with a growing
delay (``reconnect_delay_set``). A broker that goes away never stops identification: the
newest ``queue`` decisions wait for it (older ones are dropped and counted), the people
sensors' latest states too, and that is said once on stderr, and once when it is back.
Each (re)connection says ``online`` and publishes the discovery configs again, so a
broker restarted without its retained messages learns them anew.

paho is imported when an output is made, not with this module: edge/ runs without it.
"""
from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from edge import mqtt_messages as payloads
from edge.mqtt_messages import OFF, OFFLINE, ON, ONLINE, Topics, TopicError

PASSWORD_ENV = "EDGE_MQTT_PASSWORD"
PORTS = {"mqtt": 1883, "mqtts": 8883}


class MqttError(Exception):
    """A user's mistake in setting MQTT up (one line): a bad URL or camera name, or the
    mqtt extra not installed."""


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool = False
    user: str | None = None
    password: str | None = None

    def __str__(self):   # never shows the password
        user = f"{self.user}@" if self.user else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def parse_url(url: str, password: str | None = None) -> Broker:
    """``mqtt://[user[:password]@]host[:port]`` (1883), ``mqtts://`` for TLS (8883).
    ``password`` is used when the URL has none (``EDGE_MQTT_PASSWORD``, so it need not be
    on the command line); user and password may be %-escaped."""
    expected = "expected mqtt://[USER[:PASSWORD]@]HOST[:PORT] or mqtts://..."
    parts = urlsplit(url.strip())
    if parts.scheme not in PORTS or not parts.hostname or parts.path not in ("", "/"):
        raise MqttError(f"--mqtt {_hide(url)}: {expected}")
    try:
        port = parts.port or PORTS[parts.scheme]
    except ValueError:
        raise MqttError(f"--mqtt {_hide(url)}: the port is not a number from 1 to 65535") from None
    user = unquote(parts.username) if parts.username else None
    secret = unquote(parts.password) if parts.password is not None else password
    return Broker(parts.hostname, port, parts.scheme == "mqtts", user, secret if user else None)


def _hide(url: str) -> str:
    parts = urlsplit(url)
    return url if parts.password is None else url.replace(f":{parts.password}@", ":***@", 1)


def check(url: str, camera: str, prefix: str, password: str | None = None) -> Broker:
    """The broker of ``url``, once everything a user can get wrong is right (the URL, the
    camera name and prefix as topic levels, the mqtt extra installed); else MqttError."""
    _paho()
    try:
        Topics(prefix, camera)
    except TopicError as exc:
        raise MqttError(str(exc)) from None
    return parse_url(url, password)


class GalleryPeople:
    """The names enrolled in the gallery file at ``path``; calling it gives them when the
    file has changed since the last call (the first call always), else None."""

    def __init__(self, path):
        from gallery.store import Gallery

        self._gallery = Gallery(Path(path), create=False)   # read only: never made here
        self._version = None

    def __call__(self) -> list[str] | None:
        try:
            version = self._gallery.data_version()
            if version == self._version:
                return None
            names = [p.name for p in self._gallery.people()]
        except sqlite3.OperationalError:   # busy or locked a moment: asked again next time
            return None
        self._version = version
        return names

    def close(self):
        self._gallery.close()


def _paho():
    try:
        import paho.mqtt.client as client
    except ImportError:
        raise MqttError("--mqtt needs the mqtt extra: pip install 'siamese-edge[mqtt]'") from None
    return client


class MqttOutput:
    """Publishes each decision of the identify loop, and the Home Assistant entities.

    ``people``: a callable giving the enrolled names when they changed, else None (a
    ``GalleryPeople``), asked at most every ``poll`` seconds; people added appear in
    Home Assistant, people removed disappear. ``queue``: decisions kept while the broker
    is away. ``unknown_timeout``: seconds after the camera's stranger sensor turned on
    that it turns off, though no stranger's track has ended (Home Assistant's
    ``off_delay``, and here at the next frame: a photo has no end to wait for). ``reconnect``: paho's (min, max) delay in seconds.
    ``tell``: where the few lines about the connection go (default: stderr).
    """

    def __init__(self, broker: Broker, camera: str, *, prefix: str = "siamese-edge",
                 people=None, poll: float = 10.0, queue: int = 1000,
                 unknown_timeout: float = 300.0, reconnect=(1, 60), keepalive: int = 30,
                 discovery: str = payloads.DISCOVERY, tell=None):
        mqtt = _paho()
        try:
            self.topics = Topics(prefix, camera, discovery)
        except TopicError as exc:
            raise MqttError(str(exc)) from None
        self.broker, self.camera = broker, camera
        self.unknown_timeout, self.poll = unknown_timeout, poll
        self.run = f"{time.time():.3f}"          # with a track id, the id of a track
        self.version = _version()
        self.tell = tell or (lambda line: print(line, file=sys.stderr, flush=True))
        self.dropped = 0                         # decisions dropped from a full queue
        self._dropped_before = 0                 # ... before the broker went away
        self._lock = threading.Lock()
        self._connected = self._away = self._closing = False
        self._up = threading.Event()             # set while connected
        self._queue: deque = deque(maxlen=max(1, queue))   # decisions' messages, waiting
        self._held: dict[str, str] = {}          # retained topic -> latest payload, waiting
        self._strangers: set[int] = set()        # tracks of strangers in view
        self._strangers_on = 0.0                 # when the stranger sensor last turned on
        self._people_source, self._polled = people, time.monotonic()
        self._people: set[str] = set((people() or ()) if people is not None else ())

        self.client = client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                           client_id=f"{self.topics.node}-{os.getpid()}")
        client.will_set(self.topics.availability, OFFLINE, qos=1, retain=True)
        if broker.user:
            client.username_pw_set(broker.user, broker.password)
        if broker.tls:
            client.tls_set()
        client.reconnect_delay_set(*reconnect)
        client.on_connect, client.on_disconnect = self._on_connect, self._on_disconnect
        client.on_connect_fail, client.on_message = self._on_connect_fail, self._on_message
        client.connect_async(broker.host, broker.port, keepalive)
        client.loop_start()

    # -- the loop's side ------------------------------------------------------------------

    def publish(self, result) -> None:
        """Say each decision of one frame's result (``FrameResult.decisions``)."""
        self._poll_people()
        for d in result.decisions:
            self.decide(d)
        with self._lock:    # strangers said on long ago: off, as Home Assistant's timer did
            if self._strangers and time.monotonic() - self._strangers_on > self.unknown_timeout:
                self._strangers.clear()
                self._state(self.topics.unknown, OFF)

    def decide(self, d) -> None:
        """Say one decision: its event, match and face messages, the person's last-seen
        state, and the camera's stranger sensor when it changes."""
        camera, run = self.camera, self.run
        messages = [(self.topics.events, payloads.event(d, camera, run))]
        if d.kind != "ended":
            messages += [(self.topics.match(d.name), payloads.match(d, camera, run)),
                         (self.topics.face, payloads.face(d, camera, run))]
        states = {}
        if d.known:
            seen = payloads.last_seen(d, camera)
            states[self.topics.person(d.name)] = json.dumps(seen, ensure_ascii=False)
        messages = [(t, json.dumps(p, ensure_ascii=False)) for t, p in messages]
        with self._lock:
            before = bool(self._strangers)
            if d.kind != "ended" and not d.known:
                self._strangers.add(d.track)
            else:
                self._strangers.discard(d.track)
            if bool(self._strangers) != before:
                states[self.topics.unknown] = ON if self._strangers else OFF
                self._strangers_on = time.monotonic() if self._strangers else 0.0
            if self._connected:
                for topic, payload in messages:
                    self.client.publish(topic, payload, qos=1)
            else:
                if len(self._queue) == self._queue.maxlen:
                    self.dropped += 1
                self._queue.append(messages)
            for topic, payload in states.items():
                self._state(topic, payload)

    def _state(self, topic: str, payload: str) -> None:
        """A retained state: published, or held (the latest) until connected (lock held)."""
        if self._connected:
            self.client.publish(topic, payload, qos=1, retain=True)
        else:
            self._held[topic] = payload

    def close(self, timeout: float = 5.0) -> None:
        """Say ``offline`` (retained) and disconnect. With decisions still waiting, waits
        up to ``timeout`` seconds for the broker (a short run may end before it answers)."""
        if not self._closing:
            if self._queue or self._held:
                self._up.wait(timeout)
            with self._lock:
                self._closing = True
                connected, waiting = self._connected, len(self._queue)
                if connected:
                    info = self.client.publish(self.topics.availability, OFFLINE, qos=1,
                                               retain=True)
            if connected:
                try:
                    info.wait_for_publish(timeout)
                except (RuntimeError, ValueError):
                    pass
            elif waiting:
                self.tell(f"MQTT broker {self.broker} not reached: {_decisions(waiting)} "
                          "not sent")
            self.client.disconnect()
            self.client.loop_stop()
            close = getattr(self._people_source, "close", None)
            if close is not None:
                close()

    # -- people added and removed -------------------------------------------------------

    def _poll_people(self) -> None:
        now = time.monotonic()
        if self._people_source is None or now - self._polled < self.poll:
            return
        self._polled = now
        names = self._people_source()
        if names is None:
            return
        names = set(names)
        with self._lock:
            added, removed = names - self._people, self._people - names
            self._people = names
            for name in added:
                self._state(self.topics.person_config(name), self._person_config(name))
            for name in removed:      # an empty retained config: Home Assistant forgets it
                self._state(self.topics.person_config(name), "")

    def _person_config(self, name) -> str:
        config = payloads.person_config(self.topics, name, self.version)
        return json.dumps(config, ensure_ascii=False)

    # -- paho's thread --------------------------------------------------------------------

    def _announce(self) -> None:
        """Online, the discovery configs and the stranger sensor's state (lock held)."""
        t, publish = self.topics, self.client.publish
        publish(t.availability, ONLINE, qos=1, retain=True)
        config = payloads.unknown_config(t, self.unknown_timeout, self.version)
        publish(t.unknown_config(), json.dumps(config, ensure_ascii=False), qos=1, retain=True)
        for name in sorted(self._people):
            publish(t.person_config(name), self._person_config(name), qos=1, retain=True)
        publish(t.unknown, ON if self._strangers else OFF, qos=1, retain=True)

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            self._away_once(f"refused the connection ({reason})")
            return
        client.subscribe(self.topics.status, qos=1)
        with self._lock:
            if self._closing:
                return
            self._announce()
            for topic, payload in self._held.items():
                client.publish(topic, payload, qos=1, retain=True)
            sent = len(self._queue)
            for messages in self._queue:
                for topic, payload in messages:
                    client.publish(topic, payload, qos=1)
            self._held.clear()
            self._queue.clear()
            self._connected = True
            self._up.set()
            if self._away:
                self._away = False
                dropped = self.dropped - self._dropped_before
                self.tell(f"MQTT broker {self.broker} is back" +
                          (f": {_decisions(sent)} kept while it was away sent" if sent else "") +
                          (f" ({dropped} older dropped)" if dropped else ""))

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        with self._lock:
            self._connected = False
            self._up.clear()
            if self._closing:
                return
        self._away_once(f"lost ({reason})")

    def _on_connect_fail(self, client, userdata) -> None:
        self._away_once("unreachable")

    def _away_once(self, why: str) -> None:
        with self._lock:
            if self._away or self._closing:
                return
            self._away, self._dropped_before = True, self.dropped
        self.tell(f"MQTT broker {self.broker} {why}: identification goes on, the latest "
                  f"{self._queue.maxlen} decisions are kept until it is back")

    def _on_message(self, client, userdata, message) -> None:
        """Home Assistant started again: it has forgotten what was not retained."""
        if message.topic == self.topics.status and message.payload == b"online":
            with self._lock:
                if self._connected:
                    self._announce()


def _decisions(n: int) -> str:
    return f"{n} decision{'' if n == 1 else 's'}"


def _version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("siamese-edge")
    except PackageNotFoundError:
        return None
