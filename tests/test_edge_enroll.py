"""edge-enroll on real photos: what is accepted, what is refused and why, and that a
refusal never changes the gallery (compared entry by entry before and after)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edge.bundle import load_bundle
from edge.cli_enroll import main as enroll
from edge.cli_gallery import cli as gallery_cli
from gallery import schema
from tests.conftest import damage_a_page, write_locked
from tests.edge_support import BUNDLE, error_lines, gallery_state, orl, write

pytestmark = pytest.mark.edge


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Good and bad photos made from real ORL faces."""
    root = tmp_path_factory.mktemp("photos")
    face = orl(1, 1)
    small = cv2.resize(face, (round(30 * 92 / 112), 30), interpolation=cv2.INTER_AREA)
    good = write(root / "ada.png", face)
    data = (root / "ada.png").read_bytes()
    (root / "truncated.png").write_bytes(data[: len(data) // 2])
    (root / "empty.jpg").write_bytes(b"")
    (root / "text.jpg").write_text("this is not a photo")
    return {
        "good": good,
        "good2": write(root / "ada2.png", orl(1, 2)),
        "other": write(root / "bob.png", orl(5, 1)),
        "blank": write(root / "blank.png", np.full((240, 240, 3), 128, np.uint8)),
        "noise": write(root / "noise.png",
                       np.random.default_rng(0).integers(0, 256, (240, 240, 3), dtype=np.uint8)),
        "two": write(root / "two.png", np.hstack([orl(1, 1), orl(5, 1)])),
        # Ada twice as large beside Bob at ORL size: Bob could be enrolled by himself, but
        # is under DOMINANT of Ada's size, so he is a bystander and Ada is taken
        "bystander": write(root / "bystander.png", np.hstack([
            cv2.resize(face, (184, 224), interpolation=cv2.INTER_CUBIC),
            cv2.copyMakeBorder(orl(5, 1), 56, 56, 0, 0, cv2.BORDER_REPLICATE)])),
        "small": write(root / "small.png", cv2.copyMakeBorder(small, 40, 40, 40, 40,
                                                                cv2.BORDER_REPLICATE)),
        "blurred": write(root / "blurred.png", cv2.GaussianBlur(face, (0, 0), 4)),
        "truncated": str(root / "truncated.png"),
        "empty": str(root / "empty.jpg"),
        "text": str(root / "text.jpg"),
        "missing": str(root / "missing.png"),
        "folder": str(root),
    }


def run(*args):
    return CliRunner().invoke(enroll, [*map(str, args), "--bundle", BUNDLE, "--threads", "1"])


def enrolled(gallery, *args):
    result = run(*args, "--gallery", gallery)
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(gallery, *args, match: str) -> str:
    """The command fails with one ``Error:`` line holding ``match`` and no traceback,
    and the gallery is exactly as it was."""
    before = gallery_state(gallery)
    result = run(*args, "--gallery", gallery)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert match in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert gallery_state(gallery) == before
    return lines[0]


@pytest.fixture
def gallery(tmp_path, photos):
    """A gallery with Ada enrolled from one photo."""
    path = tmp_path / "gallery.db"
    enrolled(path, "Ada", "--image", photos["good"])
    return path


def test_one_photo_enrols_a_person(tmp_path, photos):
    path = tmp_path / "g.db"
    out = enrolled(path, "Ada", "--image", photos["good"])
    assert out.startswith("enrolled Ada: 1 snapshot ")
    people, vectors = gallery_state(path)
    assert [name for name, _ in people] == ["Ada"]
    (entry,) = people[0][1]
    assert entry[1] == load_bundle(BUNDLE).sha256 and entry[2] == photos["good"]
    listed = CliRunner().invoke(gallery_cli, ["list", "--json", "--gallery", str(path)])
    assert json.loads(listed.stdout)["people"][0]["enrolments"] == 1


def test_the_same_name_needs_append(gallery, photos):
    refused(gallery, "Ada", "--image", photos["good2"], match="'Ada' is already enrolled (use --append")
    out = enrolled(gallery, "Ada", "--append", "--image", photos["good2"])
    assert out.startswith("enrolled Ada: 1 snapshot, 2 stored faces in all (gallery ")
    people, _ = gallery_state(gallery)
    assert len(people[0][1]) == 2
    out = enrolled(gallery, "Ada", "--append", "--image", photos["good"], "--image", photos["good2"])
    assert out.startswith("enrolled Ada: 2 snapshots, 4 stored faces in all (gallery ")
    refused(gallery, "Bob", "--append", "--image", photos["other"], match="'Bob' is not enrolled")


@pytest.mark.parametrize("photo, reason", [
    ("blank", "no face found"),
    ("noise", "no face found"),
    ("two", "2 faces of similar size found"),
    ("small", "face too small"),
    ("blurred", "face too blurred"),
    ("truncated", "not a readable image"),
    ("empty", "empty file"),
    ("text", "not a readable image"),
    ("missing", "no such file"),
    ("folder", "is a folder"),
])
def test_unusable_photos_are_refused(gallery, photos, photo, reason):
    line = refused(gallery, "Bob", "--image", photos[photo], match=reason)
    assert photos[photo] in line  # says which photo


def test_a_clearly_dominant_face_is_enrolled_beside_a_bystander(gallery, photos):
    from edge.enrolment import DOMINANT, snapshot_of

    bundle = load_bundle(BUNDLE)
    found = sorted(f.size for f in bundle.detector(1).detect(cv2.imread(photos["bystander"]))
                   if f.score >= 0.9)
    assert len(found) == 2 and found[0] >= 48 and found[0] < DOMINANT * found[1], found
    snap = snapshot_of(cv2.imread(photos["bystander"]), bundle.detector(1))
    assert snap.box[0] < 184 <= snap.box[2] + 40          # the large face, on the left
    assert "enrolled Cy" in enrolled(gallery, "Cy", "--image", photos["bystander"])


def test_one_bad_photo_refuses_the_whole_person(gallery, photos):
    refused(gallery, "Bob", "--image", photos["other"], "--image", photos["blurred"],
            match="face too blurred")


@pytest.mark.parametrize("name, reason", [
    ("", "give the person's NAME"),
    ("   ", "a name cannot be empty"),
    ("x" * 65, "65 characters long; the limit is 64"),
    ("Ada\x07Lovelace", "control character U+0007"),
    ("Ada\u202eLovelace", "control character U+202E"),
    ("\u200b", "a name needs a visible character"),
    ("\ufeff\u200d ", "a name needs a visible character"),
    ("\u0301", "a name needs a visible character"),
    ("Ada\u200bLovelace", "invisible control character U+200B (ZERO WIDTH SPACE)"),
])
def test_bad_names_are_refused(gallery, photos, name, reason):
    refused(gallery, name, "--image", photos["other"], match=reason)


def test_names_are_one_without_regard_to_case(gallery, photos):
    """Typed "ada" or "ADA", Ada is a duplicate, or with --append gets more faces (as Ada)."""
    refused(gallery, "ada", "--image", photos["good2"],
            match="'ada' is already enrolled as 'Ada' (use --append")
    out = enrolled(gallery, "ADA", "--append", "--image", photos["good2"])
    assert out.startswith("enrolled Ada: 1 snapshot, 2 stored faces in all (gallery ")
    people, _ = gallery_state(gallery)
    assert [(name, len(faces)) for name, faces in people] == [("Ada", 2)]


def test_a_unicode_name_is_accepted(gallery, photos):
    name = "Zoë Ñandú 李小龍"
    decomposed = "Zoe\u0308 N\u0303andu\u0301 李小龍"  # the same name typed another way
    assert name in enrolled(gallery, name, "--image", photos["other"])
    refused(gallery, decomposed, "--image", photos["good2"], match="already enrolled")
    people, _ = gallery_state(gallery)
    assert sorted(n for n, _ in people) == sorted(["Ada", name])
    assert "enrolled" in enrolled(gallery, "x" * 64, "--image", photos["good2"])


def test_command_line_mistakes_are_one_line(gallery, photos, tmp_path):
    refused(gallery, "Bob", match="give exactly one of --camera, --image or --from-dir")
    refused(gallery, "Bob", "--image", photos["other"], "--from-dir", str(tmp_path),
            match="give exactly one of")
    refused(gallery, "Bob", "--from-dir", str(tmp_path), match="give no NAME")
    refused(gallery, "--image", photos["other"], match="give the person's NAME")
    (tmp_path / "nobody").mkdir()
    refused(gallery, "--from-dir", str(tmp_path / "nobody"), match="no person sub-folders")


def test_from_dir_enrols_the_good_and_reports_the_bad(gallery, photos, tmp_path):
    root = tmp_path / "people"
    (root / "Bob").mkdir(parents=True)
    shutil.copy(photos["other"], root / "Bob" / "1.png")
    write(root / "Bob" / "2.png", orl(5, 2))
    (root / "Eve").mkdir()
    shutil.copy(photos["good2"], root / "Eve" / "good.png")
    shutil.copy(photos["two"], root / "Eve" / "two.png")     # spoils Eve entirely
    (root / "Empty").mkdir()
    result = run("--from-dir", root, "--gallery", gallery)
    assert result.exit_code == 1, result.output
    assert "enrolled Bob: 2 snapshots" in result.stdout
    assert "1 of 3 people enrolled" in result.stdout
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2 and "Traceback" not in result.output
    assert errors[0].startswith("refused Empty: ") and "no photos" in errors[0]
    assert errors[1].startswith("refused Eve: ") and "2 faces of similar size found" in errors[1]
    people, _ = gallery_state(gallery)
    assert sorted(n for n, _ in people) == ["Ada", "Bob"]
    assert [len(e) for n, e in people if n == "Bob"] == [2]


@pytest.mark.parametrize("args, reason", [
    (["Bob", "--image", "blank"], "no face found"),
    (["Bob", "--image", "blurred"], "face too blurred"),
    (["Bob", "--image", "text"], "not a readable image"),
    (["Bob", "--image", "other", "--image", "two"], "2 faces of similar size found"),
    (["Ada\x07", "--image", "other"], "control character U+0007"),
    (["Bob", "--append", "--image", "other"], "'Bob' is not enrolled"),
], ids=["no-face", "blurred", "not-an-image", "one-bad-photo", "bad-name", "append-to-nobody"])
def test_a_refused_first_enrolment_leaves_no_file(tmp_path, photos, args, reason):
    """With no gallery yet, a refusal creates neither the gallery nor its folder."""
    path = tmp_path / "new" / "gallery.db"
    refused(path, *(photos.get(a, a) for a in args), match=reason)
    assert not (tmp_path / "new").exists()


def test_from_dir_creates_the_gallery_only_for_someone_to_store(tmp_path, photos):
    root = tmp_path / "people"
    (root / "Eve").mkdir(parents=True)
    shutil.copy(photos["two"], root / "Eve" / "two.png")
    (root / "Empty").mkdir()
    path = tmp_path / "new" / "gallery.db"
    result = run("--from-dir", root, "--gallery", path)
    assert result.exit_code == 1 and "0 of 2 people enrolled" in result.stdout, result.output
    assert not (tmp_path / "new").exists()
    (root / "Fred").mkdir()                        # refused first, then someone passes
    shutil.copy(photos["other"], root / "Fred" / "1.png")
    result = run("--from-dir", root, "--gallery", path)
    assert result.exit_code == 1 and "1 of 3 people enrolled" in result.stdout, result.output
    people, _ = gallery_state(path)
    assert [n for n, _ in people] == ["Fred"]


# -- a gallery that cannot be written: one line, exit 1, nothing written ----------------

def test_a_read_only_gallery_file(gallery, photos, read_only):
    read_only(gallery)
    why = f"cannot write the gallery {gallery}: the file is read-only; nothing was written"
    refused(gallery, "Bob", "--image", photos["other"], match=why)
    refused(gallery, "Ada", "--append", "--image", photos["good2"], match=why)


def test_a_gallery_in_a_read_only_folder(gallery, photos, tmp_path, read_only):
    folder = tmp_path / "shelf"
    folder.mkdir()
    path = Path(shutil.copy(gallery, folder / "g.db"))
    read_only(folder)
    line = refused(folder / "new.db", "Bob", "--image", photos["other"],
                   match=f"cannot make the gallery {folder / 'new.db'}: the folder {folder} "
                         "is read-only")
    assert line.startswith("Error: cannot make")
    result = run("Bob", "--image", photos["other"], "--gallery", path)
    assert result.exit_code == 1 and error_lines(result.stderr) == [
        f"Error: cannot open the gallery {path}: its folder {folder} is read-only, and "
        "SQLite keeps its -wal and -shm files beside the gallery"]
    assert os.listdir(folder) == ["g.db"] and path.read_bytes() == gallery.read_bytes()


def test_a_gallery_path_under_a_file(tmp_path, photos):
    notes = tmp_path / "somefile.txt"
    notes.write_text("not a folder")
    for args in (["Bob", "--image", photos["other"]], ["--from-dir", Path(photos["good"]).parent]):
        refused(notes / "g.db", *args,
                match=f"no gallery can be at {notes / 'g.db'}: {notes} is a file, not a folder")
    assert notes.read_text() == "not a folder"


def test_a_gallery_busy_beyond_the_wait(gallery, photos, tmp_path, monkeypatch):
    """Another process holds the write lock for longer than the busy wait (10 s; half a
    second here): the gallery is busy, said once, even for a folder of people."""
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_S", 0.5)
    root = tmp_path / "people"
    for name in ("Bob", "Cy"):
        (root / name).mkdir(parents=True)
        shutil.copy(photos["other"], root / name / "1.png")
    busy = (f"the gallery {gallery} is busy: another program has been writing to it for "
            "over 0.5 s (an enrolment, an import or a re-embedding?); nothing was written")
    with write_locked(gallery):
        refused(gallery, "Bob", "--image", photos["other"], match=busy)
        refused(gallery, "Ada", "--append", "--image", photos["good2"], match=busy)
        refused(gallery, "--from-dir", root, match=busy)
    assert "enrolled Bob" in enrolled(gallery, "Bob", "--image", photos["other"])


def test_a_damaged_gallery_is_refused(gallery, photos):
    """SQLite's quick check runs before the first write: a gallery with a damaged page
    (where enrolment itself never reads) is refused, pointing at edge-gallery check."""
    enrolled(gallery, "Bob", "--image", photos["other"])
    enrolled(gallery, "Cy", "--image", photos["bystander"])
    damage_a_page(gallery)
    refused(gallery, "Dan", "--image", photos["good2"],
            match=f"the gallery {gallery} is damaged (sqlite: ")
    line = refused(gallery, "Ada", "--append", "--image", photos["good2"], match="damaged")
    assert line.endswith(f"; nothing was written: see edge-gallery check --gallery {gallery}")
    checked = CliRunner().invoke(gallery_cli, ["check", "--gallery", str(gallery)])
    assert checked.exit_code == 1 and "damaged" in checked.stdout


@pytest.fixture
def opened(monkeypatch):
    """Every Gallery the command opens, to check afterwards that it closed them all."""
    from gallery.store import Gallery

    galleries, init = [], Gallery.__init__

    def spy(self, *args, **kwargs):
        init(self, *args, **kwargs)
        galleries.append(self)
    monkeypatch.setattr(Gallery, "__init__", spy)
    return galleries


def is_closed(gallery) -> bool:
    import sqlite3
    try:
        gallery._conn.execute("SELECT 1")
    except sqlite3.ProgrammingError:   # "Cannot operate on a closed database."
        return True
    return False


def test_every_way_out_closes_the_gallery(tmp_path, photos, opened):
    path = tmp_path / "gallery.db"
    root = tmp_path / "people"
    (root / "Eve").mkdir(parents=True)
    shutil.copy(photos["two"], root / "Eve" / "two.png")      # refused before the gallery exists
    (root / "Fred").mkdir()
    shutil.copy(photos["other"], root / "Fred" / "1.png")     # creates it
    outcomes = [run("--from-dir", root, "--gallery", path).exit_code,            # exit 1
                run("Ada", "--image", photos["good"], "--gallery", path).exit_code,
                run("Ada", "--image", photos["good2"], "--gallery", path).exit_code,  # fail()
                run("Ada", "--append", "--image", photos["good2"], "--gallery", path).exit_code]
    assert outcomes == [1, 0, 1, 0]
    assert len(opened) == 4 and all(map(is_closed, opened))


def test_another_models_gallery_names_the_command_to_paste(tmp_path, photos):
    """Enrolled with one model, used with another: edge-enroll and edge-identify each
    print one line ending in the edge-gallery command that fixes it; pasted as it is,
    it re-embeds the gallery, and both commands then work."""
    import shlex

    from edge.cli_identify import main as identify

    path = tmp_path / "my gallery.db"   # a space, so the path must be quoted
    made = CliRunner().invoke(enroll, ["Ada", "--image", photos["good"], "--gallery", str(path),
                                       "--bundle", "fast", "--variant", "fp32", "--threads", "1"])
    assert made.exit_code == 0, made.output
    line = refused(path, "Bob", "--image", photos["other"], match="no longer match")
    command = f"edge-gallery reembed --bundle {BUNDLE} --gallery {shlex.quote(str(path))}"
    assert line.endswith(f"with: {command}"), line
    people = tmp_path / "people" / "Bob"
    people.mkdir(parents=True)
    shutil.copy(photos["other"], people / "1.png")
    assert refused(path, "--from-dir", tmp_path / "people", match=command)
    seen = CliRunner().invoke(identify, ["--images", photos["good2"], "--gallery", str(path),
                                         "--bundle", BUNDLE, "--threads", "1"])
    assert seen.exit_code == 1 and seen.stderr.strip().endswith(command), seen.output
    args = shlex.split(command)
    assert args[:2] == ["edge-gallery", "reembed"]
    pasted = CliRunner().invoke(gallery_cli, args[1:])
    assert pasted.exit_code == 0 and "re-embedded 1 embedding" in pasted.stdout, pasted.output
    assert "enrolled Bob" in enrolled(path, "Bob", "--image", photos["other"])
    seen = CliRunner().invoke(identify, ["--images", photos["good2"], "--gallery", str(path),
                                         "--bundle", BUNDLE, "--threads", "1", "--json"])
    assert seen.exit_code == 0 and '"name": "Ada"' in seen.stdout, seen.output


def test_the_command_to_paste_names_the_variant_and_a_bundle_folder(tmp_path):
    from edge.bundle import SHIPPED
    from edge.cli_common import error_line
    from gallery.errors import ModelMismatch, model_mismatch

    exc = model_mismatch(tmp_path / "g.db", "a" * 64, "b" * 64)
    fp32 = load_bundle("fast", "fp32", verify=False)
    assert error_line(exc, fp32).endswith(
        f"with: edge-gallery reembed --bundle fast --variant fp32 --gallery {tmp_path / 'g.db'}")
    folder = tmp_path / "mine"
    folder.mkdir()
    for f in (SHIPPED / "fast").iterdir():
        (folder / f.name).symlink_to(f)
    assert error_line(exc, load_bundle(folder, verify=False)).endswith(
        f"with: edge-gallery reembed --bundle {folder} --gallery {tmp_path / 'g.db'}")
    assert error_line(ModelMismatch("mixed models"), fp32) == "mixed models"
