"""Export and import: round trip, checksums, model mismatch, duplicates, no half states."""
import hashlib
import json
import re
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

from gallery import (BadSignature, ChecksumMismatch, CorruptFile, DuplicatePerson, Gallery,
                     GalleryError, ModelMismatch, archive, png, unzip)

MODEL_A = hashlib.sha256(b"model a").hexdigest()
MODEL_B = hashlib.sha256(b"model b").hexdigest()


def vec(seed, dim=128):
    return np.random.default_rng(seed).normal(size=dim).astype(np.float32)


def face(seed):
    return np.random.default_rng(seed).integers(0, 256, (16, 16, 3), dtype=np.uint8)


def make(path, people, model=MODEL_A, seed=0):
    with Gallery(path) as g:
        for i, name in enumerate(people):
            g.enrol(name, vec(seed + i), model, face(seed + i), source="test", quality=0.5)
    return path


def state(path):
    """Everything stored, for comparing galleries."""
    with Gallery(path) as g:
        people = [(p.name, p.created, [(e.dim, e.model_sha256, e.source, e.quality, e.created)
                                       for e in p.enrolments]) for p in g.people()]
        names, matrix = g.embeddings(g.models()[0]) if g.models() else ([], None)
        thumbs = [g.thumbnail(e.id) for p in g.people() for e in p.enrolments]
    return people, names, None if matrix is None else matrix.tobytes(), thumbs


def rewrite_member(src, dst, member, change):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            zout.writestr(item, change(data) if item.filename == member else data)


def test_round_trip(tmp_path):
    src = make(tmp_path / "a.db", ["Ada", "Zoë", "李小龙"])
    with Gallery(src) as g:
        g.enrol("Ada", vec(9), MODEL_A, face(9), append=True)
        info = g.export(tmp_path / "out.zip")
    assert info == {"people": 3, "embeddings": 4, "models": [MODEL_A]}
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["format"] == "siamese-edge-gallery" and manifest["version"] == 1
        assert len([n for n in zf.namelist() if n.endswith(".png")]) == 4
        png.decode(zf.read("thumbnails/000001.png"))  # viewable as it is
    with Gallery(tmp_path / "b.db") as g:
        result = g.import_(tmp_path / "out.zip")
    assert result["added"] == ["Ada", "Zoë", "李小龙"]
    assert state(tmp_path / "b.db") == state(src)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_export_never_leaves_half_a_file(tmp_path, monkeypatch):
    src = make(tmp_path / "a.db", ["Ada"])
    (tmp_path / "out.zip").write_bytes(b"previous export")
    import gallery.archive as archive

    def fail(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(archive.os, "fsync", fail)
    with Gallery(src) as g, pytest.raises(GalleryError, match="cannot write .*out.zip: disk full"):
        g.export(tmp_path / "out.zip")
    assert (tmp_path / "out.zip").read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir() if "out.zip" in p.name) == ["out.zip"]
    with Gallery(src) as g, pytest.raises(GalleryError, match="no folder"):
        g.export(tmp_path / "no" / "such" / "folder.zip")


@pytest.mark.parametrize("member", ["data.json", "thumbnails/000002.png"])
def test_tampered_export_refused(tmp_path, member):
    make(tmp_path / "a.db", ["Ada", "Bob"])
    with Gallery(tmp_path / "a.db") as g:
        g.export(tmp_path / "out.zip")
    flip = (lambda d: d.replace(b"Bob", b"Rob")) if member == "data.json" else \
        (lambda d: d[:-20] + bytes(20))
    rewrite_member(tmp_path / "out.zip", tmp_path / "bad.zip", member, flip)
    make(tmp_path / "b.db", ["Cy"], seed=7)
    before = state(tmp_path / "b.db")
    with Gallery(tmp_path / "b.db") as g, pytest.raises(ChecksumMismatch, match=member):
        g.import_(tmp_path / "bad.zip")
    assert state(tmp_path / "b.db") == before


def test_damaged_bytes_refused(tmp_path):
    make(tmp_path / "a.db", ["Ada", "Bob"])
    with Gallery(tmp_path / "a.db") as g:
        g.export(tmp_path / "out.zip")
    data = bytearray((tmp_path / "out.zip").read_bytes())
    rng = np.random.default_rng(0)
    for trial in range(20):  # flip a byte anywhere: always refused, never half imported
        damaged = bytearray(data)
        damaged[rng.integers(len(damaged))] ^= 0x55
        (tmp_path / "bad.zip").write_bytes(damaged)
        with Gallery(tmp_path / f"t{trial}.db") as g:
            try:
                g.import_(tmp_path / "bad.zip")
            except CorruptFile:
                assert g.people() == []
            else:  # the flip hit a byte nothing reads (a zip's spare fields)
                assert [p.name for p in g.people()] == ["Ada", "Bob"]
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with Gallery(tmp_path / "c.db") as g:
        with pytest.raises(CorruptFile):
            g.import_(tmp_path / "junk.zip")
        with pytest.raises(GalleryError, match="no export file"):
            g.import_(tmp_path / "missing.zip")


def test_newer_export_format_refused(tmp_path):
    make(tmp_path / "a.db", ["Ada"])
    with Gallery(tmp_path / "a.db") as g:
        g.export(tmp_path / "out.zip")

    def newer(data):
        manifest = json.loads(data)
        manifest["version"] = 7
        return json.dumps(manifest).encode()
    rewrite_member(tmp_path / "out.zip", tmp_path / "new.zip", "manifest.json", newer)
    with Gallery(tmp_path / "b.db") as g, pytest.raises(CorruptFile, match="upgrade"):
        g.import_(tmp_path / "new.zip")


def test_model_mismatch_refused(tmp_path):
    make(tmp_path / "a.db", ["Ada"], model=MODEL_A)
    with Gallery(tmp_path / "a.db") as g:
        g.export(tmp_path / "a.zip")
    make(tmp_path / "b.db", ["Bob"], model=MODEL_B)
    with Gallery(tmp_path / "b.db") as g:
        with pytest.raises(ModelMismatch, match="reembed"):
            g.import_(tmp_path / "a.zip")
        assert [p.name for p in g.people()] == ["Bob"]


def test_duplicates(tmp_path):
    make(tmp_path / "a.db", ["Ada", "Bob"], seed=0)
    with Gallery(tmp_path / "a.db") as g:
        g.export(tmp_path / "a.zip")
    for mode, expect in [("refuse", None), ("skip", [1, 1, 1]), ("replace", [1, 1, 1]),
                         ("append", [2, 1, 1])]:
        path = make(tmp_path / f"{mode}.db", ["Ada", "Cy"], seed=10)
        with Gallery(path) as g:
            if expect is None:
                with pytest.raises(DuplicatePerson, match="'Ada'.*--skip"):
                    g.import_(tmp_path / "a.zip")
                assert [p.name for p in g.people()] == ["Ada", "Cy"]
                continue
            result = g.import_(tmp_path / "a.zip", on_duplicate=mode)
            assert result["added"] == ["Bob"]
            assert [len(p.enrolments) for p in g.people()] == expect
            names, matrix = g.embeddings(MODEL_A)
            ada = matrix[names.index("Ada")]
            mine, theirs = vec(10) / np.linalg.norm(vec(10)), vec(0) / np.linalg.norm(vec(0))
            np.testing.assert_allclose(ada, theirs if mode == "replace" else mine, rtol=1e-6)
            assert g.check() == []


def test_duplicates_without_regard_to_case(tmp_path):
    make(tmp_path / "a.db", ["ADA", "Bob"])
    with Gallery(tmp_path / "a.db") as g:
        g.export(tmp_path / "a.zip")
    path = make(tmp_path / "b.db", ["Ada"], seed=10)
    with Gallery(path) as g:
        with pytest.raises(DuplicatePerson, match="'ADA'.*--skip"):
            g.import_(tmp_path / "a.zip")
        assert g.import_(tmp_path / "a.zip", on_duplicate="append")["appended"] == ["ADA"]
        assert [(p.name, len(p.enrolments)) for p in g.people()] == [("Ada", 2), ("Bob", 1)]
    with Gallery(tmp_path / "a.db") as g:  # as a gallery made before the rule
        g._conn.execute("UPDATE people SET name = 'ada' WHERE name = 'Bob'")
        g.export(tmp_path / "old.zip")
    with pytest.raises(DuplicatePerson, match="'ADA' and 'ada', one name"):
        archive.read(tmp_path / "old.zip")


# -- a small file that would unpack to a large one --------------------------------------

MiB = 1 << 20


def zip_of_zeros(path, sizes, lie=None):
    """A zip shaped like an export (a manifest naming its members) whose members are
    ``sizes`` (name -> bytes) of zeros, written a MiB at a time; ``lie`` (name -> size)
    makes the headers of those members say another size."""
    manifest = {"format": "siamese-edge-gallery", "version": 1, "people": 0,
                "embeddings": 0, "models": [], "files": {n: "0" * 64 for n in sizes}}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        for name, size in sizes.items():
            with zf.open(name, "w", force_zip64=size > 1 << 31) as out:
                for start in range(0, size, MiB):
                    out.write(bytes(min(MiB, size - start)))
    data = bytearray(path.read_bytes())
    for name, size in (lie or {}).items():  # the local header's size, then the directory's
        for signature, name_at, size_at in ((b"PK\x03\x04", 30, 22), (b"PK\x01\x02", 46, 24)):
            at = data.find(signature)
            while at >= 0:
                if data[at + name_at:at + name_at + len(name)] == name.encode():
                    data[at + size_at:at + size_at + 4] = struct.pack("<I", size)
                at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))
    return path


def refusal(call) -> tuple[str, int]:
    """(the CorruptFile ``call()`` raises, the most memory it held at once in bytes)."""
    tracemalloc.start()
    try:
        with pytest.raises(CorruptFile) as caught:
            call()
        return str(caught.value), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_member_declaring_more_than_a_gallery_holds_is_refused_before_reading(tmp_path):
    """200 MiB of zeros pack into a quarter of a MiB: refused for what its header says,
    before a byte of it is unpacked (it used to take twice its size in memory)."""
    bomb = zip_of_zeros(tmp_path / "bomb.zip", {"data.json": 200 * MiB})
    assert bomb.stat().st_size < MiB
    with Gallery(tmp_path / "g.db") as g:
        message, peak = refusal(lambda: g.import_(bomb))
        assert g.people() == []
    assert message == (f"{bomb}: data.json would unpack to 200.0 MiB, more than the 64.0 MiB "
                       "a gallery export holds in one file; it is not one, or it is damaged")
    assert peak < MiB


@pytest.mark.parametrize("limits, sizes, message", [
    (unzip.Limits(member=MiB, total=4 * MiB), {f"thumbnails/{i}.png": MiB for i in range(5)},
     "would unpack to 5.0 MiB, more than the 4.0 MiB a gallery export may hold"),
    (unzip.Limits(), {f"thumbnails/{i}.png": 8 * MiB for i in range(3)},
     "times its own size: a gallery export does not pack so well (a zip bomb?)"),
], ids=["total", "ratio"])
def test_a_file_unpacking_to_too_much_in_all_is_refused(tmp_path, limits, sizes, message):
    bomb = zip_of_zeros(tmp_path / "bomb.zip", sizes)
    said, peak = refusal(lambda: archive.read(bomb, limits))
    assert message in said and peak < MiB


def test_a_size_that_lies_does_not_get_past_the_cap(tmp_path):
    """A header saying 1000 bytes for 8 MiB of zeros passes the size check; unpacking
    stops at what the header said (zipfile's own cap), and at the limit in any case."""
    liar = zip_of_zeros(tmp_path / "liar.zip", {"data.json": 8 * MiB}, lie={"data.json": 1000})
    with zipfile.ZipFile(liar) as zf:
        assert zf.getinfo("data.json").file_size == 1000
    limits = unzip.Limits(member=MiB)
    said, peak = refusal(lambda: archive.read(liar, limits))
    assert "is damaged" in said and peak < 3 * MiB  # the unpacking buffer: the cap, not 8
    honest = zip_of_zeros(tmp_path / "honest.zip", {"data.json": 8 * MiB})
    with zipfile.ZipFile(honest) as zf:  # the cap by itself, without the size check
        said, peak = refusal(lambda: unzip.read(honest, zf, "data.json", limits))
    assert "data.json unpacks to more than the 1.0 MiB" in said and peak < 3 * MiB


# -- signed exports ---------------------------------------------------------------------

def test_a_signed_export_is_refused_unless_signed_with_the_key(tmp_path):
    key, other = b"k" * 32, b"o" * 32
    make(tmp_path / "a.db", ["Ada", "Bob"])
    with Gallery(tmp_path / "a.db") as g:
        g.export(tmp_path / "signed.zip", sign_key=key)
        g.export(tmp_path / "plain.zip")
    with zipfile.ZipFile(tmp_path / "signed.zip") as zf:
        assert zf.comment.startswith(b"siamese-edge hmac-sha256:")
    assert len(archive.read(tmp_path / "signed.zip", verify_key=key).people) == 2
    assert len(archive.read(tmp_path / "signed.zip").people) == 2  # no key: not asked
    with pytest.raises(BadSignature, match="is not signed with this key, or was changed"):
        archive.read(tmp_path / "signed.zip", verify_key=other)
    with pytest.raises(BadSignature, match="is not signed, and a signed export was asked"):
        archive.read(tmp_path / "plain.zip", verify_key=key)

    # Rob for Bob, with checksums that agree again and the old signature kept
    with zipfile.ZipFile(tmp_path / "signed.zip") as zf:
        data, signature = zf.read("data.json").replace(b"Bob", b"Rob"), zf.comment
        manifest = json.loads(zf.read("manifest.json"))
    manifest["files"]["data.json"] = hashlib.sha256(data).hexdigest()
    rewrite_member(tmp_path / "signed.zip", tmp_path / "half.zip", "data.json", lambda _: data)
    rewrite_member(tmp_path / "half.zip", tmp_path / "forged.zip", "manifest.json",
                   lambda _: json.dumps(manifest, indent=1).encode())
    with zipfile.ZipFile(tmp_path / "forged.zip", "a") as zf:
        zf.comment = signature
    assert [p["name"] for p in archive.read(tmp_path / "forged.zip").people] == ["Ada", "Rob"]
    with Gallery(tmp_path / "b.db") as g:
        with pytest.raises(BadSignature, match="or was changed after it was signed"):
            g.import_(tmp_path / "forged.zip", verify_key=key)
        assert g.people() == []
        assert g.import_(tmp_path / "signed.zip", verify_key=key)["added"] == ["Ada", "Bob"]
