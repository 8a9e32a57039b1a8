"""The shipped bundle, and every way a damaged bundle is refused in one clear line.

A bundle is the one folder that crosses from the workstation to the device; the device
must never guess, so a copy with a missing file, an altered model, a schema from the
future, a manifest that is not JSON or lacks an entry, an unknown variant or an unknown
name is a BundleError, and a command given one exits 1 with a single ``Error:`` line.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edge.bundle import SCHEMA, BundleError, load_bundle, sha256_file, shipped_bundles
from tests.edge_support import BUNDLE, ENV, celeb, error_lines, orl, write

pytestmark = pytest.mark.edge


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(BUNDLE)


def test_the_shipped_bundle_loads_and_describes_itself(bundle):
    m = bundle.manifest
    assert BUNDLE in shipped_bundles() and m.schema == SCHEMA and m.name == bundle.name == BUNDLE
    emb = m.embedding
    assert emb.default_variant == bundle.variant and bundle.variant in emb.variants
    inp = emb.input
    assert isinstance(inp.size, int) and inp.colour in ("grey", "rgb")
    assert isinstance(inp.mean, float) and isinstance(inp.scale, float)
    for name, v in emb.variants.items():
        assert v.name == name and isinstance(v.threshold, float) and 0 < v.threshold < 2, name
        assert sha256_file(bundle.path / v.file) == v.sha256
        assert (bundle.path / v.file).stat().st_size == v.bytes
    for net in m.detector.nets.values():
        assert sha256_file(bundle.path / net.file) == net.sha256
    assert m.licence and m.created


def test_its_models_run_on_the_device_runtime(bundle):
    """The embedder takes the manifest's size and colour and gives unit vectors of the
    manifest's length; the detector finds the one face of a padded celebrity crop."""
    inp = bundle.spec.input
    embedder = bundle.embedder(threads=1)
    assert embedder.size == inp.size
    assert embedder.channels == inp.channels == (1 if inp.colour == "grey" else 3)
    assert embedder.dim == bundle.spec.dim
    shape = (3, inp.size, inp.size) + (() if inp.colour == "grey" else (3,))
    faces = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    e = embedder.embed(faces)
    assert e.shape == (3, bundle.spec.dim) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    assert np.allclose(embedder.embed(faces[:1]), e[:1], atol=1e-5)  # batch size does not matter
    faces = bundle.detector(threads=1).detect(celeb("iu"))
    assert len(faces) == 1 and faces[0].score > 0.9 and faces[0].landmarks.shape == (5, 2)


def test_a_stored_thumbnail_embeds_like_a_face_aligned_at_the_model_size(bundle):
    """The gallery keeps 112 px colour crops; the bundle's thumbnail embedder resizes them
    to its own size and colour, which must match aligning at that size directly."""
    from edge.align import align_face, to_colour
    from edge.enrolment import snapshot_of

    image, detector = orl(1, 1), bundle.detector(threads=1)
    snap = snapshot_of(image, detector)
    assert snap.thumbnail.shape == (112, 112, 3)
    inp = bundle.spec.input
    direct = to_colour(align_face(image, detector.detect(image)[0].landmarks, inp.size),
                       inp.colour)
    a = bundle.thumbnail_embedder(threads=1).embed([snap.thumbnail])
    b = bundle.embedder(threads=1).embed(direct[None])
    assert float((a * b).sum()) > 0.95



@pytest.fixture
def made(monkeypatch):
    """Every TFLite interpreter made from now on, as (file name, threads, interpreter)."""
    import edge.detect
    import edge.embed
    import edge.litert

    made, real = [], edge.litert.make_interpreter

    def spy(path, threads=None):
        interpreter = real(path, threads)
        made.append((Path(path).name, threads, interpreter))
        return interpreter

    for module in (edge.litert, edge.embed, edge.detect):
        monkeypatch.setattr(module, "make_interpreter", spy)
    return made


def test_the_models_opened_by_the_check_serve_the_detector_and_embedder(made):
    """load_bundle opens every model to refuse a bundle the runtime cannot run; the
    detector and embedder then asked for with the same threads use those interpreters
    instead of opening the files again, and give the same answers."""
    from edge.embed import Embedder

    bundle = load_bundle(BUNDLE, threads=2)
    checked = {name: interpreter for name, threads, interpreter in made}
    nets = [net.file for net in bundle.manifest.detector.nets.values()]
    assert sorted(checked) == sorted([bundle.model.file, *nets])
    assert {threads for _, threads, _ in made} == {2}
    made.clear()
    embedder, detector = bundle.embedder(2), bundle.detector(2)
    assert made == [] and embedder.interpreter is checked[bundle.model.file]
    (face,) = detector.detect(celeb("iu"))
    for net, name in zip((detector.pnet, detector.rnet, detector.onet), nets):
        assert checked[name] in net.interpreters.values()  # resized for its first shape
        assert [n for n, _, _ in made].count(name) == len(net.interpreters) - 1
    inp = bundle.spec.input
    shape = (2, inp.size, inp.size) + (() if inp.colour == "grey" else (3,))
    faces = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    fresh = Embedder(bundle.file(bundle.model.file), inp.mean, inp.scale, 2)
    assert np.allclose(embedder.embed(faces), fresh.embed(faces), atol=1e-6)


def test_an_interpreter_serves_one_user_and_only_its_thread_count(made):
    """Interpreters are not shared (a second embedder opens its own), and one the check
    made with 1 thread is never handed to a user asking for 4."""
    bundle = load_bundle(BUNDLE, threads=1)
    name = bundle.model.file
    checked = {n: interpreter for n, _, interpreter in made}
    made.clear()
    four = bundle.embedder(4)
    assert [(n, t) for n, t, _ in made] == [(name, 4)] and four.interpreter is made[0][2]
    one = bundle.embedder(1)  # the check's was dropped by the first request
    assert one.interpreter is not checked[name] and [(n, t) for n, t, _ in made[1:]] == [(name, 1)]
    detector = bundle.detector(1)
    assert detector.pnet.spare is checked[bundle.manifest.detector.pnet.file]
    assert bundle.detector(1).pnet.spare is None


# -- damaged copies ---------------------------------------------------------------------

@pytest.fixture
def copy(bundle, tmp_path):
    """A private copy of the shipped bundle to damage."""
    dst = tmp_path / "copy"
    shutil.copytree(bundle.path, dst)
    return dst


def model_file(path):
    m = json.loads((path / "manifest.json").read_text())
    return path / m["embedding"]["variants"][m["embedding"]["default_variant"]]["file"]


def edit_manifest(path, change):
    m = json.loads((path / "manifest.json").read_text())
    change(m)
    (path / "manifest.json").write_text(json.dumps(m))


def missing_model(path):
    model_file(path).unlink()


def missing_detector(path):
    m = json.loads((path / "manifest.json").read_text())
    (path / m["detector"]["onet"]["file"]).unlink()


def flipped_byte(path):
    f = model_file(path)
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x01
    f.write_bytes(bytes(data))


def future_schema(path):
    edit_manifest(path, lambda m: m.update(schema=SCHEMA + 1))


def not_json(path):
    (path / "manifest.json").write_text('{"schema": 1, "embedding": {')


def no_manifest(path):
    (path / "manifest.json").unlink()


def no_embedding_section(path):
    edit_manifest(path, lambda m: m.pop("embedding"))


def variant_without_checksum(path):
    def change(m):
        for v in m["embedding"]["variants"].values():
            del v["sha256"]
    edit_manifest(path, change)


def model_the_runtime_cannot_run(path):
    """Checksums all in order, but the file is no model this runtime can open."""
    f = model_file(path)
    f.write_bytes(b"TFL3 is what a model file would say" * 64)

    def change(m):
        m["embedding"]["variants"][m["embedding"]["default_variant"]]["sha256"] = sha256_file(f)
    edit_manifest(path, change)


DAMAGE = {
    missing_model: "missing file embedding_",
    missing_detector: "missing file mtcnn_onet",
    flipped_byte: "does not match its sha256",
    future_schema: f"bundle schema {SCHEMA + 1} is not supported",
    not_json: "manifest.json: unreadable",
    no_manifest: "not a bundle (no manifest.json)",
    no_embedding_section: "lacks the embedding section",
    variant_without_checksum: "sha256",
    model_the_runtime_cannot_run: "cannot run on this TFLite runtime",
}


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__)
def test_a_damaged_copy_is_one_clear_bundle_error(copy, damage):
    damage(copy)
    with pytest.raises(BundleError) as err:
        load_bundle(copy)
    message = str(err.value)
    assert DAMAGE[damage] in message and "\n" not in message, message
    assert str(copy) in message  # says which bundle


def test_unknown_variant_and_unknown_name(copy):
    with pytest.raises(BundleError, match=r"no variant 'int4' \(has: ") as err:
        load_bundle(copy, variant="int4")
    assert "\n" not in str(err.value)
    with pytest.raises(BundleError, match=rf"unknown bundle 'no-such-bundle' \(shipped: .*{BUNDLE}"):
        load_bundle("no-such-bundle")


def test_verify_false_skips_only_the_checksum(copy):
    flipped_byte(copy)
    assert load_bundle(copy, verify=False).path == copy


@pytest.mark.parametrize("damage", [flipped_byte, future_schema, not_json, missing_model],
                         ids=lambda f: f.__name__)
def test_commands_refuse_a_damaged_bundle_in_one_line(copy, damage, tmp_path):
    from edge.cli_enroll import main as enroll
    from edge.cli_identify import main as identify

    damage(copy)
    photo = write(tmp_path / "face.png", orl(1, 1))
    gallery = tmp_path / "g.db"
    for cli, args in ((identify, ["--images", photo]), (enroll, ["Ada", "--image", photo])):
        result = CliRunner().invoke(cli, [*args, "--bundle", str(copy), "--gallery", str(gallery)])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and DAMAGE[damage] in lines[0]
        assert result.stdout == ""
    assert not gallery.exists()  # nothing was written


def test_a_damaged_bundle_in_a_real_process(copy, tmp_path):
    """``python -m edge.cli_identify --bundle BADCOPY``: exit status 1, one ``Error:``
    line on stderr, no traceback."""
    flipped_byte(copy)
    photo = write(tmp_path / "face.png", orl(1, 1))
    proc = subprocess.run([sys.executable, "-m", "edge.cli_identify", "--images", photo,
                           "--bundle", str(copy), "--gallery", str(tmp_path / "g.db")],
                          capture_output=True, text=True, env=ENV, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "sha256" in lines[0], proc.stderr
    proc = subprocess.run([sys.executable, "-m", "edge.cli_identify", "--images", photo,
                           "--bundle", "no-such-bundle", "--gallery", str(tmp_path / "g.db")],
                          capture_output=True, text=True, env=ENV, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1 and error_lines(proc.stderr) == [
        f"Error: unknown bundle 'no-such-bundle' (shipped: {', '.join(shipped_bundles())}; "
        "or give a folder)"]
