"""The typed manifest: every shipped bundle reads and writes back byte for byte, a
manifest written is one the reader accepts, and each value the device would misuse (a
threshold that is text or NaN, a pyramid step of 1, a face size of 0, a missing
section or variant) is refused in one line naming the field, as is an embedding model
whose real input differs from the size and colour the manifest states.
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge.bundle import SHIPPED, load_bundle, shipped_bundles
from edge.manifest import (MANIFEST, BundleError, Manifest, Variant, parse, read_manifest,
                           write_manifest)
from tests.edge_support import BUNDLE, orl, write

pytestmark = pytest.mark.edge


def copy_of(name: str, folder: Path, change=None) -> Path:
    """Shipped bundle ``name`` in ``folder``: links to its model files, its manifest
    copied and passed through ``change`` (a function editing the JSON dict)."""
    folder.mkdir(parents=True)
    for f in (SHIPPED / name).iterdir():
        if f.name != MANIFEST:
            (folder / f.name).symlink_to(f)
    data = json.loads((SHIPPED / name / MANIFEST).read_text())
    if change is not None:
        change(data)
    (folder / MANIFEST).write_text(json.dumps(data, indent=2))
    return folder


def refusal(path, **kwargs) -> str:
    with pytest.raises(BundleError) as err:
        load_bundle(path, **kwargs)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    return message


# -- the shipped bundles ------------------------------------------------------------------

@pytest.mark.parametrize("name", shipped_bundles())
def test_each_shipped_manifest_reads_and_writes_back_byte_for_byte(name, tmp_path):
    text = (SHIPPED / name / MANIFEST).read_text()
    m = read_manifest(SHIPPED / name)
    assert m.to_json() == text
    write_manifest(tmp_path, m)
    assert (tmp_path / MANIFEST).read_text() == text and read_manifest(tmp_path) == m
    for variant in m.embedding.variants:
        bundle = load_bundle(SHIPPED / name, variant, threads=1)
        assert bundle.manifest == m and bundle.name == name and bundle.model.name == variant
    assert sorted(shipped_bundles()) == ["accurate", "fast"]


def test_the_typed_values_are_the_json_values():
    data = json.loads((SHIPPED / "fast" / MANIFEST).read_text())
    m = read_manifest(SHIPPED / "fast")
    emb, det = m.embedding, m.detector
    assert (emb.input.size, emb.input.colour, emb.input.channels) == (64, "grey", 1)
    assert (emb.dim, emb.default_variant, list(emb.variants)) == (128, "int8", ["fp32", "int8"])
    int8 = data["embedding"]["variants"]["int8"]
    v = emb.variants["int8"]
    assert (v.file, v.sha256, v.bytes, v.threshold) == (
        int8["file"], int8["sha256"], int8["bytes"], int8["threshold"])
    assert v.quantisation == "int8" and v.identification.far == tuple(int8["identification"]["far"])
    assert v.wild["rounds"] == 5
    assert (det.settings.min_face, det.settings.scale_factor, det.settings.thresholds) == (
        20, 0.709, (0.6, 0.7, 0.8))
    assert [n.file for n in det.nets.values()] == [data["detector"][k]["file"]
                                                    for k in ("pnet", "rnet", "onet")]
    assert m.training["train"]["folders"] == ("runs/wild/train", "runs/protocol112/train")


def test_a_manifest_is_frozen_and_its_notes_read_only():
    m = read_manifest(SHIPPED / "fast")
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.embedding.variants["int8"].threshold = 2.0
    with pytest.raises(TypeError):
        m.embedding.variants["extra"] = m.embedding.variants["int8"]
    with pytest.raises(TypeError):
        m.training["seconds"] = 0


# -- writing ----------------------------------------------------------------------------

def test_a_changed_manifest_round_trips(tmp_path):
    """write -> read gives back what was written, changes and extra notes included."""
    m = read_manifest(SHIPPED / BUNDLE)
    v = m.embedding.variants[m.embedding.default_variant]
    changed = dataclasses.replace(
        m, name="renamed", extra={"notes": {"by": "hand", "list": (1, 2.5)}},  # read as tuples
        embedding=dataclasses.replace(m.embedding, variants={
            **m.embedding.variants, v.name: dataclasses.replace(v, threshold=0.5)}))
    write_manifest(tmp_path, changed)
    back = read_manifest(tmp_path)
    assert back == changed and back != m
    assert back.name == "renamed" and back.embedding.variants[v.name].threshold == 0.5
    assert back.extra["notes"]["list"] == (1, 2.5)
    written = json.loads((tmp_path / MANIFEST).read_text())
    assert written["notes"] == {"by": "hand", "list": [1, 2.5]}
    assert Manifest.from_dict(json.loads(back.to_json())) == back


def test_writing_refuses_what_the_reader_would_refuse_and_writes_nothing(tmp_path):
    m = read_manifest(SHIPPED / BUNDLE)
    pyramid = dataclasses.replace(m.detector.settings, scale_factor=1.0)
    bad = dataclasses.replace(m, detector=dataclasses.replace(m.detector, settings=pyramid))
    with pytest.raises(BundleError, match="detector.settings.scale_factor is 1.0"):
        write_manifest(tmp_path, bad)
    assert list(tmp_path.iterdir()) == []


def test_a_variant_made_from_a_report_entry_is_checked():
    entry = {"file": "embedding_fp32.tflite", "sha256": "0" * 64, "bytes": 10,
             "threshold": 0.9}
    assert Variant.from_dict(entry, "fp32").threshold == 0.9
    with pytest.raises(BundleError, match=r"^manifest field fp32.threshold is nan, not a finite"):
        Variant.from_dict({**entry, "threshold": math.nan}, "fp32")


# -- a value the device would misuse, refused in one line naming it ----------------------

def variant(m):
    return m["embedding"]["variants"][m["embedding"]["default_variant"]]


def setting(key, value):
    return lambda m: m["detector"]["settings"].__setitem__(key, value)


def field(section, key, value):
    return lambda m: section(m).__setitem__(key, value)


def without(section, key):
    return lambda m: section(m).pop(key)


def curve(key, value):
    return lambda m: variant(m)["identification"].__setitem__(key, value)


def emb(m):
    return m["embedding"]


def inp(m):
    return m["embedding"]["input"]


def root(m):
    return m


V = "embedding.variants.int8"   # both shipped bundles default to int8
BAD = {  # id: (change, what the one line must say)
    "threshold text": (field(variant, "threshold", "1.0"),
                       f"{V}.threshold is '1.0', not a number"),
    "threshold NaN": (field(variant, "threshold", math.nan), f"{V}.threshold is nan, not a finite"),
    "threshold infinite": (field(variant, "threshold", math.inf),
                           f"{V}.threshold is inf, not a finite"),
    "threshold 0": (field(variant, "threshold", 0.0), f"{V}.threshold is 0.0, must be in (0, 2]"),
    "threshold negative": (field(variant, "threshold", -0.3), f"{V}.threshold is -0.3, must be"),
    "threshold true": (field(variant, "threshold", True), f"{V}.threshold is True, not a number"),
    "no threshold": (without(variant, "threshold"), f"manifest lacks {V}.threshold"),
    "sha256 not hex": (field(variant, "sha256", "xyz"), f"{V}.sha256 is 'xyz', not 64 lower-case"),
    "file outside": (field(variant, "file", "../embedding_int8.tflite"),
                     f"{V}.file is '../embedding_int8.tflite', not the name of a file"),
    "fpir 1": (curve("fpir", 1.0), f"{V}.identification.fpir is 1.0, must be between 0 and 1"),
    "fpir 0": (curve("fpir", 0), f"{V}.identification.fpir is 0, must be between 0 and 1"),
    "gallery 0": (curve("gallery", 0), f"{V}.identification.gallery is 0, must be at least 1"),
    "far not rising": (curve("far", [0.1, 0.01]), f"{V}.identification.far is [0.1, 0.01], its "
                                                  "numbers must be rising"),
    "curve NaN": (curve("threshold", [math.nan] * 64), f"{V}.identification.threshold[0] is nan"),
    "scale_factor 1": (setting("scale_factor", 1.0),
                       "detector.settings.scale_factor is 1.0, must be between 0 and 1, "
                       "both excluded"),
    "scale_factor 0": (setting("scale_factor", 0), "detector.settings.scale_factor is 0, must be"),
    "min_face 0": (setting("min_face", 0), "detector.settings.min_face is 0, must be at least 1"),
    "min_face fraction": (setting("min_face", 20.5),
                          "detector.settings.min_face is 20.5, not a whole"),
    "two thresholds": (setting("thresholds", [0.6, 0.7]),
                       "detector.settings.thresholds is [0.6, 0.7], not a list of 3 numbers"),
    "threshold above 1": (setting("thresholds", [0.6, 1.5, 0.8]),
                          "detector.settings.thresholds[1] is 1.5, must be between 0 and 1"),
    "unknown setting": (setting("max_faces", 3),
                        "detector.settings.max_faces is unknown to schema"),
    "size 0": (field(inp, "size", 0), "embedding.input.size is 0, must be at least 1"),
    "size text": (field(inp, "size", "64"), "embedding.input.size is '64', not a whole number"),
    "colour bgr": (field(inp, "colour", "bgr"),
                   "embedding.input.colour is 'bgr', not one of: grey, rgb"),
    "scale 0": (field(inp, "scale", 0.0), "embedding.input.scale is 0.0, must be > 0"),
    "mean NaN": (field(inp, "mean", math.nan), "embedding.input.mean is nan, not a finite number"),
    "dim 0": (field(emb, "dim", 0), "embedding.dim is 0, must be at least 1"),
    "mirror text": (field(emb, "mirror_averaged", "yes"),
                    "embedding.mirror_averaged is 'yes', not true"),
    "default variant absent": (field(emb, "default_variant", "fp16"),
                               "embedding.default_variant is 'fp16', not one of its variants"),
    "no variants": (field(emb, "variants", {}), "embedding.variants is {}, not one variant"),
    "no input": (without(emb, "input"), "manifest lacks the embedding.input section"),
    "no detector": (without(root, "detector"), "manifest lacks the detector section"),
    "no settings": (lambda m: m["detector"].pop("settings"),
                    "manifest lacks the detector.settings section"),
    "no onet": (lambda m: m["detector"].pop("onet"), "manifest lacks the detector.onet section"),
    "detector kind": (lambda m: m["detector"].__setitem__("kind", "yolo"),
                      "detector.kind is 'yolo', not one of: mtcnn"),
    "schema text": (field(root, "schema", "1"), "manifest field schema is '1', not a whole number"),
    "training a list": (field(root, "training", [1]),
                        "manifest field training is [1], not an object"),
}


@pytest.mark.parametrize("change", BAD, ids=list(BAD))
def test_a_bad_value_is_one_line_naming_the_field(change, tmp_path):
    edit, says = BAD[change]
    path = copy_of(BUNDLE, tmp_path / "copy", edit)
    assert says in refusal(path, verify=False)


def test_a_model_file_named_but_missing_is_refused_even_if_not_the_one_used(tmp_path):
    """Every file the manifest names must be there (fast names two embedding variants)."""
    path = copy_of("fast", tmp_path / "copy")
    (path / "embedding_fp32.tflite").unlink()
    assert "missing file embedding_fp32.tflite" in refusal(path, variant="int8")
    path = copy_of("fast", tmp_path / "renamed", field(variant, "file", "no_such.tflite"))
    assert "missing file no_such.tflite" in refusal(path)


def test_an_unknown_variant_is_refused():
    assert "no variant 'fp16' (has: fp32, int8)" in refusal(SHIPPED / "fast", variant="fp16")


# -- the manifest against the model it describes ----------------------------------------

WRONG_INPUT = {  # what the fast bundle's int8 model really is: 64x64x1 in, 128 out
    "size": (field(inp, "size", 112), "takes 64x64x1 faces and gives 128 numbers, but the "
                                      "manifest says 112x112x1 (grey) and 128"),
    "colour": (field(inp, "colour", "rgb"), "manifest says 64x64x3 (rgb) and 128"),
    "dim": (field(emb, "dim", 512), "manifest says 64x64x1 (grey) and 512"),
}


@pytest.mark.parametrize("wrong", WRONG_INPUT)
def test_an_embedding_model_unlike_its_manifest_is_refused(wrong, tmp_path):
    edit, says = WRONG_INPUT[wrong]
    path = copy_of("fast", tmp_path / "copy", edit)
    message = refusal(path, threads=1)
    assert message.startswith(f"{path}: embedding_int8.tflite takes ") and says in message
    bundle = load_bundle(path, verify=False)   # not opened at load: refused when first used
    with pytest.raises(BundleError, match=says.replace("(", r"\(").replace(")", r"\)")):
        bundle.embedder(1)


def test_a_nan_threshold_stops_edge_identify_in_one_line(tmp_path):
    """It used to name no one and exit 0."""
    from edge.cli_identify import main as identify

    path = copy_of(BUNDLE, tmp_path / "copy", field(variant, "threshold", math.nan))
    photo = write(tmp_path / "face.png", orl(1, 1))
    result = CliRunner().invoke(identify, ["--images", photo, "--json", "--bundle", str(path),
                                           "--gallery", str(tmp_path / "g.db")])
    assert result.exit_code == 1 and result.stdout == "", result.output
    assert result.stderr.strip().splitlines() == [
        f"Error: {path}: manifest field {V}.threshold is nan, not a finite number"]


def test_parse_without_a_source_says_the_field_alone():
    data = json.loads((SHIPPED / BUNDLE / MANIFEST).read_text())
    data["detector"]["settings"]["min_face"] = 0
    with pytest.raises(BundleError) as err:
        parse(data)
    assert str(err.value) == "manifest field detector.settings.min_face is 0, must be at least 1"
