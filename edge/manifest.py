"""A bundle's ``manifest.json`` as frozen, checked values: read, check, write.

Reading checks every value the device relies on, field by field; a fault is one
BundleError line naming the field (``embedding.variants.int8.threshold is nan, not a
finite number``). Writing goes through the same check before a byte is written, so a
file the workstation writes is one the device reads. Figures kept for people to read
(a variant's wild protocol scores, the training run, the evaluation, further top-level
notes) stay as they are, in read-only mappings. The JSON keys and their order are the
shipped bundles' own: reading a manifest and writing it again gives the same bytes.

Only manifest.json itself is read here: that the files it names exist, match their
sha256 and are the models it describes is ``edge.bundle.load_bundle``'s to check.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from types import MappingProxyType

__all__ = ["SCHEMA", "MANIFEST", "BundleError", "Manifest", "EmbeddingSpec", "Input",
           "Variant", "Identification", "DetectorSpec", "DetectorSettings", "DetectorNet",
           "parse", "read_manifest", "write_manifest"]

SCHEMA = 1
MANIFEST = "manifest.json"
COLOURS = ("grey", "rgb")
NETS = ("pnet", "rnet", "onet")   # the detector's three networks, in the order they run


class BundleError(Exception):
    """A bundle the device cannot use; the message says why."""


# -- checking one JSON object, field by field -------------------------------------------

_ABSENT = object()
POSITIVE = (lambda x: x > 0, "> 0")
AT_LEAST_1 = (lambda x: x >= 1, "at least 1")
OPEN_UNIT = (lambda x: 0 < x < 1, "between 0 and 1, both excluded")
UNIT = (lambda x: 0 <= x <= 1, "between 0 and 1")
DISTANCE = (lambda x: 0 < x <= 2, "in (0, 2], a distance between unit vectors")


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Fields:
    """One JSON object of the manifest, read a field at a time; ``where`` is its dotted
    path (``embedding.input``). ``done`` refuses the fields nothing asked for."""

    def __init__(self, data, where: str):
        if not isinstance(data, dict):
            raise BundleError(f"manifest field {where} is {_shown(data)}, not an object")
        self.data, self.where, self.asked = data, where, set()

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fault(self, key: str, value, problem: str):
        raise BundleError(f"manifest field {self.path(key)} is {_shown(value)}, {problem}")

    def get(self, key: str, optional: bool = False):
        self.asked.add(key)
        if key in self.data:
            return self.data[key]
        if optional:
            return _ABSENT
        raise BundleError(f"manifest lacks {self.path(key)}")

    def text(self, key: str, optional: bool = False, choices=None):
        value = self.get(key, optional)
        if value is _ABSENT:
            return None
        if not isinstance(value, str):
            self.fault(key, value, "not text")
        if choices is not None and value not in choices:
            self.fault(key, value, f"not one of: {', '.join(choices)}")
        return value

    def flag(self, key: str, optional: bool = False):
        value = self.get(key, optional)
        if value is not _ABSENT and not isinstance(value, bool):
            self.fault(key, value, "not true or false")
        return None if value is _ABSENT else value

    def number(self, key: str, rule=None, optional: bool = False, whole: bool = False):
        value = self.get(key, optional)
        return None if value is _ABSENT else self._number(key, value, rule, whole)

    def _number(self, key, value, rule, whole):
        kinds = int if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            self.fault(key, value, "not a whole number" if whole else "not a number")
        if not math.isfinite(value):
            self.fault(key, value, "not a finite number")
        if rule is not None and not rule[0](value):
            self.fault(key, value, f"must be {rule[1]}")
        return value

    def numbers(self, key: str, rule=None, length=None, order=None) -> tuple:
        """A list of numbers; ``order``: "rising" (strictly) or "not falling"."""
        values = self.get(key)
        if not isinstance(values, list) or not values or \
                (length is not None and len(values) != length):
            self.fault(key, values, f"not a list of {length or 'one or more'} numbers")
        for i, value in enumerate(values):
            self._number(f"{key}[{i}]", value, rule, False)
        steps = [b - a for a, b in zip(values, values[1:])]
        rising, steady = all(s > 0 for s in steps), all(s >= 0 for s in steps)
        if (order == "rising" and not rising) or (order == "not falling" and not steady):
            self.fault(key, values, f"its numbers must be {order}")
        return tuple(values)

    def section(self, key: str, optional: bool = False):
        value = self.get(key, optional=True)
        if value is not _ABSENT:
            return _Fields(value, self.path(key))
        if not optional:
            raise BundleError(f"manifest lacks the {self.path(key)} section")
        return None

    def read(self, cls, key: str, optional: bool = False, *args):
        """Section ``key`` read by ``cls._read``, none of its fields left unread."""
        section = self.section(key, optional)
        if section is None:
            return None
        value = cls._read(section, *args)
        section.done()
        return value

    def notes(self, key: str):
        """An optional object kept for people to read, as a read-only mapping."""
        section = self.section(key, optional=True)
        return None if section is None else _frozen(section.data)

    def done(self):
        unknown = [k for k in self.data if k not in self.asked]
        if unknown:
            raise BundleError(f"manifest field {self.path(unknown[0])} is unknown to schema "
                              f"{SCHEMA} (damaged or hand-edited)")


def _frozen(value):
    if isinstance(value, dict):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    return tuple(map(_frozen, value)) if isinstance(value, list) else value


def _plain(value):
    """A value as JSON has it: sections as dicts, tuples as lists."""
    if is_dataclass(value):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return [_plain(v) for v in value] if isinstance(value, (tuple, list)) else value


KEY = {"key": True}        # field metadata: the key the section is filed under, not written
SPREAD = {"spread": True}  # field metadata: written as further keys of the section itself


class _Section:
    @classmethod
    def from_dict(cls, data, *args):
        """The section made from its JSON ``data`` and checked as the reader checks it
        (``args``: a variant's name)."""
        f = _Fields(data, args[0] if args else cls.__name__.lower())
        section = cls._read(f, *args)
        f.done()
        return section

    def to_dict(self) -> dict:
        """The section as manifest.json has it (absent optional fields left out)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or f.metadata.get("key"):
                continue
            if f.metadata.get("spread"):
                out.update(_plain(value))
            else:
                out[f.name] = _plain(value)
        return out


# -- the sections ------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Input(_Section):
    """How a face is fed to the embedding network: aligned to ``size`` px square, in
    ``colour``, as (x - mean) / scale, NHWC."""
    size: int
    colour: str
    mean: float
    scale: float
    layout: str | None = None
    alignment: str | None = None

    @property
    def channels(self) -> int:
        return 1 if self.colour == "grey" else 3

    @classmethod
    def _read(cls, f: _Fields) -> Input:
        return cls(size=f.number("size", AT_LEAST_1, whole=True),
                   colour=f.text("colour", choices=COLOURS), mean=f.number("mean"),
                   scale=f.number("scale", POSITIVE),
                   layout=f.text("layout", optional=True, choices=("NHWC",)),
                   alignment=f.text("alignment", optional=True))


@dataclass(frozen=True, kw_only=True)
class Identification(_Section):
    """The different-person distance curve calibrated on people used for nothing else:
    ``threshold[i]`` accepts at most ``far[i]`` of different-person pairs. The variant's
    own threshold is read off it for ``gallery`` stored faces at ``fpir``."""
    fpir: float
    gallery: int
    pairs: int | None = None
    people: int | None = None
    confidence: float | None = None
    resamples: int | None = None
    far: tuple
    threshold: tuple

    @property
    def curve(self) -> dict:
        """As ``edge.metrics.threshold_for_gallery`` takes it."""
        return {"far": self.far, "threshold": self.threshold}

    @classmethod
    def _read(cls, f: _Fields) -> Identification:
        count = {"rule": AT_LEAST_1, "optional": True, "whole": True}
        return cls(fpir=f.number("fpir", OPEN_UNIT),
                   gallery=f.number("gallery", AT_LEAST_1, whole=True),
                   pairs=f.number("pairs", **count), people=f.number("people", **count),
                   confidence=f.number("confidence", OPEN_UNIT, optional=True),
                   resamples=f.number("resamples", **count),
                   far=f.numbers("far", (lambda x: 0 < x <= 1, "in (0, 1]"), order="rising"),
                   threshold=f.numbers("threshold", order="not falling"))


def _model_file(f: _Fields) -> dict:
    """The file name, sha256 and size every model entry has."""
    name = f.text("file")
    if name in ("", ".", "..") or Path(name).name != name or "\\" in name:
        f.fault("file", name, "not the name of a file in the bundle folder")
    digest = f.text("sha256")
    if len(digest) != 64 or digest.strip("0123456789abcdef"):
        f.fault("sha256", digest, "not 64 lower-case hex digits")
    return {"file": name, "sha256": digest, "bytes": f.number("bytes", AT_LEAST_1, whole=True)}


@dataclass(frozen=True, kw_only=True)
class Variant(_Section):
    """One embedding model of the bundle. ``name``, its key among the variants, is its
    quantisation: fp32, fp16, dynamic (int8 weights) or int8 (integer throughout).
    ``threshold``: the distance below which a face is named, for the gallery size and
    FPIR of ``identification`` when there is one (older bundles have this one alone)."""
    name: str = field(metadata=KEY)
    file: str
    sha256: str
    bytes: int
    threshold: float
    identification: Identification | None = None
    one_shot: float | None = None
    auc: float | None = None
    wild: Mapping | None = None

    @property
    def quantisation(self) -> str:
        return self.name

    @classmethod
    def _read(cls, f: _Fields, name: str) -> Variant:
        return cls(name=name, **_model_file(f), threshold=f.number("threshold", DISTANCE),
                   identification=f.read(Identification, "identification", optional=True),
                   one_shot=f.number("one_shot", UNIT, optional=True),
                   auc=f.number("auc", UNIT, optional=True), wild=f.notes("wild"))


@dataclass(frozen=True, kw_only=True)
class EmbeddingSpec(_Section):
    """The embedding network: its input, embedding length, variants and default one."""
    architecture: str | None = None
    input: Input
    dim: int
    mirror_averaged: bool | None = None
    distance: str | None = None
    threshold_rule: str | None = None
    default_variant: str
    variants: Mapping[str, Variant]

    @classmethod
    def _read(cls, f: _Fields) -> EmbeddingSpec:
        listed = f.section("variants")
        if not listed.data:
            f.fault("variants", listed.data, "not one variant")
        variants = {k: listed.read(Variant, k, False, k) for k in listed.data}
        out = cls(architecture=f.text("architecture", optional=True),
                  input=f.read(Input, "input"), dim=f.number("dim", AT_LEAST_1, whole=True),
                  mirror_averaged=f.flag("mirror_averaged", optional=True),
                  distance=f.text("distance", optional=True),
                  threshold_rule=f.text("threshold_rule", optional=True),
                  default_variant=f.text("default_variant"), variants=MappingProxyType(variants))
        if out.default_variant not in variants:
            f.fault("default_variant", out.default_variant,
                    f"not one of its variants ({', '.join(variants)})")
        return out


@dataclass(frozen=True, kw_only=True)
class DetectorNet(_Section):
    """One of MTCNN's networks as a TFLite file."""
    file: str
    sha256: str
    bytes: int
    quantisation: str | None = None

    @classmethod
    def _read(cls, f: _Fields) -> DetectorNet:
        return cls(**_model_file(f), quantisation=f.text("quantisation", optional=True))


@dataclass(frozen=True, kw_only=True)
class DetectorSettings(_Section):
    """The detector's settings (``edge.detect.Detector`` takes them): the smallest face
    side in pixels, the image pyramid's step from one level to the next, and the face
    probability each of P-Net, R-Net and O-Net must exceed."""
    min_face: int
    scale_factor: float
    thresholds: tuple

    @classmethod
    def _read(cls, f: _Fields) -> DetectorSettings:
        return cls(min_face=f.number("min_face", AT_LEAST_1, whole=True),
                   scale_factor=f.number("scale_factor", OPEN_UNIT),
                   thresholds=f.numbers("thresholds", OPEN_UNIT, length=len(NETS)))


@dataclass(frozen=True, kw_only=True)
class DetectorSpec(_Section):
    """The face detector: MTCNN's three networks and the settings they run with."""
    kind: str
    source: str | None = None
    variant: str | None = None
    colour: str
    mean: float
    scale: float
    settings: DetectorSettings
    pnet: DetectorNet
    rnet: DetectorNet
    onet: DetectorNet

    @property
    def nets(self) -> dict[str, DetectorNet]:
        """pnet, rnet and onet, in the order they run."""
        return {name: getattr(self, name) for name in NETS}

    @classmethod
    def _read(cls, f: _Fields) -> DetectorSpec:
        return cls(kind=f.text("kind", choices=("mtcnn",)),
                   source=f.text("source", optional=True),
                   variant=f.text("variant", optional=True),
                   colour=f.text("colour", choices=COLOURS),
                   mean=f.number("mean"), scale=f.number("scale", POSITIVE),
                   settings=f.read(DetectorSettings, "settings"),
                   **{name: f.read(DetectorNet, name) for name in NETS})


@dataclass(frozen=True, kw_only=True)
class Manifest(_Section):
    """Everything the device needs to use a bundle, and how it was made. ``training``,
    ``evaluation`` and ``extra`` (further top-level entries, such as siamese-convert's
    extra notes) are for people to read, kept as they are."""
    schema: int
    name: str | None = None
    created: str | None = None
    made_by: str | None = None
    licence: str | None = None
    embedding: EmbeddingSpec
    detector: DetectorSpec
    training: Mapping | None = None
    evaluation: Mapping | None = None
    extra: Mapping = field(default_factory=lambda: MappingProxyType({}), metadata=SPREAD)

    def files(self, variant: str) -> list[tuple[str, str]]:
        """(file, sha256) of each model a device using ``variant`` runs."""
        models = [self.embedding.variants[variant], *self.detector.nets.values()]
        return [(m.file, m.sha256) for m in models]

    def file_names(self) -> list[str]:
        """Every model file the manifest names: each variant's and the detector's."""
        models = (*self.embedding.variants.values(), *self.detector.nets.values())
        return [m.file for m in models]

    @classmethod
    def from_dict(cls, data) -> Manifest:
        return parse(data)

    def to_json(self) -> str:
        """manifest.json's text."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def _read(cls, data) -> Manifest:
        if not isinstance(data, dict) or "schema" not in data:
            raise BundleError("manifest has no schema version")
        f = _Fields(data, "")
        schema = f.number("schema", whole=True)
        if schema != SCHEMA:
            raise BundleError(f"bundle schema {schema} is not supported by this version "
                              f"(reads schema {SCHEMA}); upgrade siamese-edge")
        known = dict(schema=schema, name=f.text("name", optional=True),
                     created=f.text("created", optional=True),
                     made_by=f.text("made_by", optional=True),
                     licence=f.text("licence", optional=True),
                     embedding=f.read(EmbeddingSpec, "embedding"),
                     detector=f.read(DetectorSpec, "detector"),
                     training=f.notes("training"), evaluation=f.notes("evaluation"))
        extra = {k: v for k, v in data.items() if k not in f.asked}
        return cls(**known, extra=_frozen(extra))


# -- reading and writing ------------------------------------------------------------------

def parse(data, source=None) -> Manifest:
    """The checked Manifest of manifest.json's parsed ``data``; a fault is a BundleError
    of one line, beginning with ``source`` (the bundle's folder) when given."""
    try:
        return Manifest._read(data)
    except BundleError as exc:
        raise BundleError(f"{source}: {exc}" if source else str(exc)) from None


def read_manifest(folder) -> Manifest:
    """The checked manifest of the bundle ``folder``."""
    path = Path(folder) / MANIFEST
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}: unreadable ({exc})") from None
    return parse(data, folder)


def write_manifest(folder, manifest: Manifest) -> Path:
    """Write ``manifest`` into the bundle ``folder`` if the reader accepts it exactly as
    written (else a BundleError, and nothing written); returns the file's path."""
    text = manifest.to_json()
    parse(json.loads(text), folder)
    path = Path(folder) / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path
