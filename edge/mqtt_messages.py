"""What ``edge-identify --mqtt`` says: the topics, each decision's payloads and the Home
Assistant discovery configs. Plain functions of a ``Decision`` and names, no network
(``edge.mqtt`` sends them); docs/home-assistant.md shows every one with an example.

    <prefix>/events                    every decision (settled, changed, ended)
    <prefix>/matches/<name>            a name settled on, Double Take's shape
    <prefix>/matches/unknown           ... a stranger
    <prefix>/tracked_object_update     Frigate's face message ({"type": "face", ...})
    <prefix>/people/<person id>        retained: where and when someone was last seen
    <prefix>/<camera>/unknown          retained: ON while a stranger is in view, else OFF
    <prefix>/<camera>/availability     retained: online, offline (the last will)
    homeassistant/sensor/<prefix id>/<person id>/config             a sensor per person
    homeassistant/binary_sensor/<prefix id>_<camera id>/unknown/config   one per camera
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import datetime

from edge.decisions import rounded

DISCOVERY = "homeassistant"
ONLINE, OFFLINE = "online", "offline"
ON, OFF = "ON", "OFF"


class TopicError(ValueError):
    """A camera name or prefix that cannot be part of an MQTT topic."""


def level(name: str) -> str:
    """``name`` as one topic level: ``/`` (which splits levels) and the wildcards ``+``
    and ``#`` (refused in a topic one publishes to) become ``_``."""
    return re.sub(r"[/+#]", "_", name)


def slug(name: str, unique: bool = False) -> str:
    """An id Home Assistant accepts in a discovery topic: ``name`` in ASCII, lower case,
    ``_`` between words; ``unique``: with six hex digits of the name's hash, so two
    names never share an id (``Zoë``, ``Zoe`` and ``zoe`` are three people)."""
    ascii_ = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "_", ascii_.lower()).strip("_")
    digest = hashlib.sha1(name.encode()).hexdigest()[:6]
    return (f"{base}_{digest}" if base else digest) if unique else (base or digest)


def score(distance: float | None) -> float | None:
    """The cosine similarity of two unit embeddings ``distance`` apart (1 - d²/2), in
    [0, 1]: Frigate's ``score``; Double Take's ``confidence`` is it in per cent."""
    return None if distance is None else round(min(1.0, max(0.0, 1 - distance ** 2 / 2)), 4)


def iso(epoch: float) -> str:
    """Local time with its offset, as Home Assistant's timestamp sensors want it."""
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="milliseconds")


class Topics:
    """Every topic of one camera under ``prefix``."""

    def __init__(self, prefix: str, camera: str, discovery: str = DISCOVERY):
        prefix = prefix.strip("/")
        for what, value in (("--mqtt-prefix", prefix), ("--camera-name", camera)):
            if not value or re.search(r"[+#\x00]", value):
                raise TopicError(f"{what} {value!r}: give a name without + or # (MQTT "
                                 "wildcards)")
        if "/" in camera:
            raise TopicError(f"--camera-name {camera!r}: give a name without /")
        self.prefix, self.camera, self.discovery = prefix, camera, discovery
        self.namespace = slug(prefix)               # siamese-edge: siamese_edge
        self.node = f"{self.namespace}_{slug(camera)}"
        self.events = f"{prefix}/events"
        self.face = f"{prefix}/tracked_object_update"
        self.availability = f"{prefix}/{camera}/availability"
        self.unknown = f"{prefix}/{camera}/unknown"
        self.status = f"{discovery}/status"        # Home Assistant says online on start

    def match(self, name: str) -> str:
        return f"{self.prefix}/matches/{level(name)}"

    def person(self, name: str) -> str:
        return f"{self.prefix}/people/{slug(name, unique=True)}"

    def person_config(self, name: str) -> str:
        return f"{self.discovery}/sensor/{self.namespace}/{slug(name, unique=True)}/config"

    def unknown_config(self) -> str:
        return f"{self.discovery}/binary_sensor/{self.node}/unknown/config"


# -- a decision's payloads -----------------------------------------------------------------

def event(d, camera: str, run: str) -> dict:
    """``<prefix>/events``: one decision as it is, with the camera and both clocks.
    ``id`` names the track for this run of edge-identify (``run``: its start time)."""
    return {"id": f"{run}-{d.track}", "camera": camera, **d.as_dict(), "known": d.known,
            "score": score(d.distance), "time": iso(d.time), "timestamp": round(d.time, 3)}


def match(d, camera: str, run: str) -> dict:
    """``<prefix>/matches/<name>``: Double Take's shape, the match inside ``match``."""
    x1, y1, x2, y2 = (round(float(v)) for v in d.box)
    conf = score(d.distance)
    out = {"id": f"{run}-{d.track}", "camera": camera, "time": iso(d.time),
           "timestamp": round(d.time, 3),
           "match": {"name": d.name, "match": d.known,
                     "confidence": None if conf is None else round(100 * conf, 2),
                     "distance": rounded(d.distance), "margin": rounded(d.margin),
                     "box": {"top": y1, "left": x1, "width": x2 - x1, "height": y2 - y1}}}
    if d.sighting is not None:
        out["sighting"] = d.sighting
    return out


def face(d, camera: str, run: str) -> dict:
    """``<prefix>/tracked_object_update``: Frigate's face recognition message (``name``
    null for a stranger, as Frigate says no match)."""
    return {"type": "face", "id": f"{run}-{d.track}",
            "name": d.name if d.known else None, "score": score(d.distance),
            "camera": camera, "timestamp": round(d.time, 3)}


def last_seen(d, camera: str) -> dict:
    """``<prefix>/people/<person id>`` (retained): the person sensor's state (``time``)
    and attributes. ``kind`` ended: the time they left the camera's view."""
    out = {"name": d.name, "camera": camera, "time": iso(d.time),
           "timestamp": round(d.time, 3), "kind": d.kind, "track": d.track,
           "distance": rounded(d.distance), "score": score(d.distance)}
    if d.sighting is not None:
        out["sighting"] = d.sighting
    return out


# -- Home Assistant discovery ----------------------------------------------------------------

def person_config(topics: Topics, name: str, version: str | None) -> dict:
    """A timestamp sensor per enrolled person: when they were last seen, with the
    camera and distance as attributes. Shared by every camera under the same prefix
    (the last one to see them sets it), so it has no one camera's availability."""
    state = topics.person(name)
    return {"name": f"{name} last seen", "unique_id": f"{topics.namespace}_person_"
            f"{slug(name, unique=True)}", "state_topic": state,
            "value_template": "{{ value_json.time }}", "json_attributes_topic": state,
            "device_class": "timestamp", "icon": "mdi:face-recognition",
            "device": {"identifiers": [topics.namespace], "name": topics.prefix,
                       "manufacturer": "siamese-edge", "model": "enrolled people"},
            "origin": _origin(version)}


def unknown_config(topics: Topics, off_delay: float, version: str | None) -> dict:
    """A binary sensor per camera: on while a stranger's track is in view, off when it
    ends, or ``off_delay`` seconds after it was last said on (Home Assistant's timer:
    a photo, or a stranger who stays, is not followed to an end)."""
    return {"name": "Someone unknown",
            "unique_id": f"{topics.node}_unknown", "state_topic": topics.unknown,
            "payload_on": ON, "payload_off": OFF, "off_delay": max(1, round(off_delay)),
            "device_class": "occupancy", "icon": "mdi:account-question",
            "availability_topic": topics.availability, "payload_available": ONLINE,
            "payload_not_available": OFFLINE,
            "device": {"identifiers": [topics.node], "name": f"{topics.prefix} {topics.camera}",
                       "manufacturer": "siamese-edge", "model": "edge-identify",
                       **({"sw_version": version} if version else {})},
            "origin": _origin(version)}


def _origin(version):
    return {"name": "siamese-edge", **({"sw_version": version} if version else {})}



