"""siamese-convert round trip: a briefly trained `edge` network becomes a bundle whose
every variant runs in LiteRT close to Keras, with a manifest the device can trust; a
failed int8 tolerance writes no bundle at all. Needs TensorFlow (not an edge test)."""
from __future__ import annotations

import copy
import json
import shutil
import stat

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tests.conftest import need_data

pytestmark = pytest.mark.slow

SIZE = 32
VARIANTS = ("fp32", "fp16", "dynamic", "int8")
MIN_COSINE = {"fp32": 0.99, "fp16": 0.99, "dynamic": 0.95, "int8": 0.95}


@pytest.fixture(scope="module")
def detector_export(tmp_path_factory):
    """The MTCNN detector exported once (about 10 s); every bundle here copies it."""
    from convert.detector import export_detector

    out = tmp_path_factory.mktemp("mtcnn")
    return out, export_detector(out)


@pytest.fixture(scope="module")
def exported_detector_only_once(detector_export):
    src, entry = detector_export

    def copy_detector(work, int8):
        assert not int8
        for net in ("pnet", "rnet", "onet"):
            shutil.copy(src / entry[net]["file"], work / entry[net]["file"])
        return copy.deepcopy(entry)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("convert.bundle._detector", copy_detector)
        yield


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Face folders in the prepared layout (person/*.png): ORL s1-s12 to train, s13-s20
    to evaluate; ORL photos are face crops already, so they are kept whole at 32 px."""
    from edge.align import resize_whole

    orl = need_data("orl")
    root = tmp_path_factory.mktemp("faces")
    for split, people in (("train", range(1, 13)), ("eval", range(13, 21))):
        for p in people:
            (root / split / f"s{p}").mkdir(parents=True)
            for f in sorted((orl / f"s{p}").glob("*.pgm")):
                grey = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
                cv2.imwrite(str(root / split / f"s{p}" / f"{f.stem}.png"), resize_whole(grey, SIZE))
    return root / "train", root / "eval"


@pytest.fixture(scope="module")
def model(folders, tmp_path_factory):
    from train.data import load_folder
    from train.fit import FitConfig, fit

    out = tmp_path_factory.mktemp("model")
    fit(load_folder(folders[0], size=SIZE),
        out, FitConfig(epochs=1, steps=3, batch=16, size=SIZE, val_fraction=0.25), verbose=0)
    return out


@pytest.fixture(scope="module")
def built(model, folders, tmp_path_factory, exported_detector_only_once):
    from convert.bundle import BundleConfig, build_bundle

    out = tmp_path_factory.mktemp("bundles") / "tiny"
    # the evaluation people double as the "wild" folder here, to exercise the open-set report
    cfg = BundleConfig(name="tiny", variants=VARIANTS, default="int8", calib_size=40, trials=100,
                       wild=str(folders[1]))
    report = build_bundle(model, out, folders[0], folders[1], cfg, log=lambda m: None)
    return out, report


def test_every_variant_runs_in_litert_close_to_keras(built, model, folders):
    from edge.bundle import load_bundle
    from train.data import load_folder
    from train.evaluate import embed_faces
    from train.fit import load_branch

    out, report = built
    faces = load_folder(folders[1], size=SIZE).images[:40]
    reference = embed_faces(load_branch(model), faces)
    for variant in VARIANTS:
        bundle = load_bundle(out, variant)
        embedder = bundle.embedder(threads=2)
        assert (embedder.size, embedder.channels) == (SIZE, 1)
        emb = embedder.embed(faces)
        cosine = (emb * reference).sum(axis=1)
        assert cosine.min() > MIN_COSINE[variant], (variant, cosine.min())
        assert report["variants"][variant]["cosine_to_keras"]["worst"] > MIN_COSINE[variant]


def test_a_mirror_averaged_network_names_a_face_and_its_mirror_alike(built, folders):
    """The default network embeds each face plus its mirror image inside the model, so a
    face and its mirror image get one embedding, in every variant (int8 included)."""
    from edge.bundle import load_bundle
    from edge.manifest import read_manifest
    from train.data import load_folder

    out, _ = built
    assert read_manifest(out).embedding.mirror_averaged is True
    faces = load_folder(folders[1], size=SIZE).images[:20]
    for variant in VARIANTS:
        embedder = load_bundle(out, variant).embedder()
        direct, mirrored = embedder.embed(faces), embedder.embed(faces[:, :, ::-1].copy())
        assert (direct * mirrored).sum(axis=1).min() > 0.9999, variant
        single = embedder.embed(faces[3])            # batch of one: same as in a batch
        assert (single[0] * direct[3]).sum() > 0.9999, variant


def test_the_manifest_says_what_the_device_needs(built, model):
    from edge.bundle import SCHEMA, load_bundle, sha256_file
    from edge.manifest import read_manifest

    out, report = built
    m = read_manifest(out)
    assert (out / "manifest.json").read_text() == m.to_json()  # written as the reader reads it
    summary = json.loads((model / "summary.json").read_text())
    assert m.schema == SCHEMA and m.name == "tiny"
    emb = m.embedding
    assert emb.architecture == "edge" and emb.dim == summary["embedding_dim"]
    assert emb.input.size == SIZE and emb.input.colour == "grey"
    assert (emb.input.mean, emb.input.scale) == (127.5, 128.0)
    assert emb.default_variant == "int8" and sorted(emb.variants) == sorted(VARIANTS)
    for name, v in emb.variants.items():
        f = out / v.file
        assert f.name == f"embedding_{name}.tflite"
        assert sha256_file(f) == v.sha256 and f.stat().st_size == v.bytes
        assert type(v.threshold) is float and 0 < v.threshold < 2
        assert 0 <= v.one_shot <= 1 and 0 <= v.auc <= 1
        curve = v.identification
        assert curve.fpir == 0.01 and curve.gallery == 50 and curve.pairs >= 100
        assert np.all(np.diff(curve.far) > 0) and np.all(np.diff(curve.threshold) >= 0)
        assert 0 <= v.wild["known_right"] <= 1 and v.wild["rounds"] == 5
        device = load_bundle(out, name, verify=False)
        assert device.threshold_for(50) == pytest.approx(v.threshold)
        assert device.threshold_for(1) >= device.threshold_for(50) >= device.threshold_for(5000)
        assert device.threshold_for(50, fpir=0.1) >= device.threshold_for(50)
    assert "Wild protocol (open set" in (out / "report.md").read_text()
    sizes = {n: v.bytes for n, v in emb.variants.items()}
    assert sizes["int8"] < sizes["fp16"] < sizes["fp32"]
    for net in m.detector.nets.values():
        assert sha256_file(out / net.file) == net.sha256
    assert m.training["config"]["arch"] == "edge" and m.training["epochs_run"] == 1
    assert report["int8_ok"] and (out / "report.md").read_text().startswith("# Conversion report")
    # readable by whoever runs the device (the work folder began as a private temp folder)
    assert stat.S_IMODE(out.stat().st_mode) & 0o055 == 0o055
    assert [p.name for p in out.parent.iterdir()] == ["tiny"]  # no temp folder left behind


def test_a_failed_int8_tolerance_writes_no_bundle(model, folders, tmp_path, exported_detector_only_once):
    from convert.cli import main

    out = tmp_path / "refused"
    result = CliRunner().invoke(main, [str(model), str(out), "--train", str(folders[0]),
                                       "--eval", str(folders[1]), "--variants", "fp32,int8",
                                       "--tolerance", "-100", "--trials", "50",
                                       "--calib-size", "20"])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: int8 loses") and "bundle not written" in lines[-1]
    assert all(not line.startswith("Traceback") for line in lines)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["refused.report.md"]


def test_an_existing_bundle_is_not_overwritten(built, model, folders):
    from convert.cli import main

    out, _ = built
    before = (out / "manifest.json").read_bytes()
    result = CliRunner().invoke(main, [str(model), str(out), "--train", str(folders[0]),
                                       "--eval", str(folders[1])])
    assert result.exit_code == 1 and "exists (use --overwrite" in result.stderr
    assert (out / "manifest.json").read_bytes() == before


def test_a_manifest_the_device_would_refuse_stops_the_conversion(built):
    """The writer checks as the reader does: a NaN threshold is refused before writing."""
    from convert.bundle import ConvertError, _manifest

    out, _ = built
    data = json.loads((out / "manifest.json").read_text())
    assert _manifest(data).to_json() == (out / "manifest.json").read_text()
    data["embedding"]["variants"]["int8"]["threshold"] = float("nan")
    with pytest.raises(ConvertError, match=r"would not load on a device: manifest field "
                                           r"embedding\.variants\.int8\.threshold is nan"):
        _manifest(data)
