"""The hostile battery: every command run as an attacker or an unlucky user would.

    .venv/bin/python -m benchmarks.battery --data ../shared/data     # or: make battery

Each case runs one command of this checkout (``python -m <module>``, PYTHONPATH the repo)
in a fresh temporary folder, on inputs made here: broken and hostile photos, names,
galleries, bundles, archives and sources, then (unless --no-web) a few requests to the
web view. A case expects success (exit 0), a refusal (a non-zero exit and exactly one
``Error:`` line on stderr), either, or for ``edge-gallery check`` exit 1 with its report.
A failure is: a traceback, a timeout, an unexpected exit, a gallery that lost people or
stored faces (a refusal must leave it as it was), a damaged or foreign file that a
refusal or a reading command wrote into, or a post-condition (a file that must not be
made). The web view's answers must be 4xx without server paths. Prints a table (case,
command, exit, the line printed, verdict), every failure in full and the counts; exits 1
on any failure. About a minute and a half on 2 cores.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Callable

import click
import cv2
import numpy as np

from benchmarks.memory import bomb_png

ROOT = Path(__file__).resolve().parents[1]
MODULES = {"edge-identify": "edge.cli_identify", "edge-enroll": "edge.cli_enroll",
           "edge-gallery": "edge.cli_gallery", "edge-bench": "edge.cli_bench",
           "siamese-convert": "convert.cli", "siamese-train": "train.cli"}
OK, REFUSE, ANY, REPORT = "success", "refusal", "either", "exit 1"   # REPORT: check's report
ROOTLESS = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search"]   # root that file modes bind
IS_ROOT = os.geteuid() == 0
FX: dict[str, Path] = {}   # the fixtures made once (setup): photos, galleries, exports


@dataclass
class Case:
    group: str
    name: str
    argv: Callable[[Path], list]     # makes the inputs in the case's folder; the command line
    expect: str = REFUSE
    after: Callable[[Path], str | None] | None = None   # a post-condition: a problem, or None
    na: Callable[[], str | None] | None = None          # why it cannot run here, or None
    rootless: bool = False           # run without root's power to read any file


# ---- inputs, each a function of the case's folder -------------------------------------

def face():
    return cv2.imread(str(FX["face"]))


def put(name, data):
    """A file ``name`` holding ``data`` (bytes, or a function giving them)."""
    def make(t):
        (t / name).parent.mkdir(parents=True, exist_ok=True)
        (t / name).write_bytes(data() if callable(data) else data)
        return t / name
    return make


def img(name, array, *params):
    return put(name, lambda: cv2.imencode(Path(name).suffix, array(), list(params))[1].tobytes())


def gif(name):
    def data():
        from io import BytesIO
        from PIL import Image
        buf = BytesIO()
        Image.fromarray(face()[:, :, ::-1]).save(buf, "GIF")
        return buf.getvalue()
    return put(name, data)


def at(rel, make=None):
    """``t/rel``, made by ``make(path)`` when given (else left as it is: missing)."""
    def path(t):
        (t / rel).parent.mkdir(parents=True, exist_ok=True)
        if make:
            make(t / rel)
        return t / rel
    return path


def G(fixture="g.db", rel=None, damage=None):
    """A copy of a fixture gallery (``damage(path)`` done to it)."""
    def copy(p):
        shutil.copy(FX[fixture], p)
        if damage:
            damage(p)
    return at(rel or fixture, copy)


def half(data):
    return bytes(data[: len(data) // 2])


def truncate(p):
    p.write_bytes(half(p.read_bytes()))


def damage_page(p):
    """512 bytes in the middle of the file overwritten."""
    with open(p, "r+b") as f:
        f.seek(p.stat().st_size // 2)
        f.write(b"\xa5" * 512)


def sql(statement):
    """A damage made by SQL (the file left whole: written back from its WAL, closed)."""
    def damage(p):
        db = sqlite3.connect(p)
        db.execute(statement)
        db.commit()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
    return damage


def damage_table(table):
    """The first page of ``table`` overwritten with garbage."""
    def damage(p):
        with sqlite3.connect(f"file:{p}?mode=ro", uri=True) as db:
            page, = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                               (table,)).fetchone()
            size = db.execute("PRAGMA page_size").fetchone()[0]
        with open(p, "r+b") as f:
            f.seek((page - 1) * size)
            f.write(np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes())
    return damage


def immutable(p):
    subprocess.run(["chattr", "+i", str(p)], check=True)


def bundle(edit):
    """A copy of the fast bundle with ``edit(manifest, folder)`` done to it."""
    def make(b):
        shutil.copytree(ROOT / "edge/bundles/fast", b)
        m = json.loads((b / "manifest.json").read_text())
        edit(m, b)
        (b / "manifest.json").write_text(json.dumps(m))
    return at("bundle", make)


def variants(key, value):
    def edit(m, _):
        for v in m["embedding"]["variants"].values():
            v[key] = value
    return edit


def settings(**values):
    return lambda m, _: m["detector"]["settings"].update(values)


def flip_byte(m, b):
    f = b / m["embedding"]["variants"]["int8"]["file"]
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))


def swap_embedder(m, b):
    """The accurate bundle's embedder under the fast one's manifest, its sha256 right."""
    acc = json.loads((ROOT / "edge/bundles/accurate/manifest.json").read_text())
    theirs = acc["embedding"]["variants"]["int8"]
    mine = m["embedding"]["variants"]["int8"]
    shutil.copy(ROOT / "edge/bundles/accurate" / theirs["file"], b / mine["file"])
    mine.update(sha256=theirs["sha256"], bytes=theirs["bytes"])


def zip_of(members: dict):
    def make(p):
        with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in members.items():
                z.writestr(name, data)
    return make


def zeros_zip(p):
    """A 1 GiB member of zeros, about 1 MB packed, written a chunk at a time."""
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("data.json", "w", force_zip64=True) as f:
            chunk = bytes(1 << 20)
            for _ in range(1024):
                f.write(chunk)


def rewrite_export(p, change, fix=False):
    """Ada's export with ``change(name, data) -> (name, data)`` done to each member;
    ``fix``: its manifest's checksums made right again, as an attacker would."""
    with zipfile.ZipFile(FX["ada.zip"]) as src:
        members = dict(change(i.filename, src.read(i)) for i in src.infolist())
    if fix:
        manifest = json.loads(members["manifest.json"])
        manifest["files"] = {n: hashlib.sha256(d).hexdigest() for n, d in members.items()
                             if n != "manifest.json"}
        members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(p, "w") as dst:
        for name, data in members.items():
            dst.writestr(zipfile.ZipInfo(name), data)


def tampered(p):
    rewrite_export(p, lambda name, data: (name, data.replace(b"Ada Lovelace", b"Eve Lovelace")
                                          if name == "data.json" else data))


def traversal(p):
    """Ada's export, its face crop renamed ../../etc/x, every checksum right."""
    evil = b"../../etc/x"
    with zipfile.ZipFile(FX["ada.zip"]) as src:
        thumb = next(n for n in src.namelist() if n.startswith("thumbnails/")).encode()
    rewrite_export(p, lambda name, data: (name.replace(thumb.decode(), evil.decode()),
                                          data.replace(thumb, evil)), fix=True)


@cache
def photo48():
    rng = np.random.default_rng(0)
    frame = cv2.GaussianBlur(rng.integers(60, 200, (6000, 8000, 3), dtype=np.uint8), (0, 0), 3)
    frame[2000:4000, 3000:5000] = cv2.resize(face(), (2000, 2000), interpolation=cv2.INTER_CUBIC)
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def absent(rel):
    return lambda t: f"{rel} was made" if (t / rel).exists() else None


# ---- commands -------------------------------------------------------------------------

def cmd(*parts):
    """A command line of strings and inputs (functions of the case's folder)."""
    return lambda t: [str(p(t)) if callable(p) else str(p) for p in parts]


def enrol(image, name="Ada Lovelace", gallery=None, more=()):
    return cmd("edge-enroll", name, "--image", image, "--gallery", gallery or G(), *more)


def identify(*more, gallery=None):
    return cmd("edge-identify", "--gallery", gallery or G(), *more)


PHOTO = at("face.jpg", lambda p: shutil.copy(FX["face"], p))
TEXT = b"this is not a photo\n"
UNDER_FILE = lambda rel: lambda t: put("f.txt", TEXT)(t) / rel   # noqa: E731 (under a file)
FOLDER = lambda rel: at(rel, lambda p: p.mkdir())                # noqa: E731
BOMB = put("a.png", cache(lambda: bomb_png(20_000, 20_000)))
TINY = img("a.png", lambda: np.zeros((3, 3, 3), np.uint8))
DAMAGED = {"non-SQLite file": put("bad.db", TEXT * 400),
           "truncated": G(rel="bad.db", damage=truncate),
           "damaged page": G(rel="bad.db", damage=damage_page),
           "damaged people table": G(rel="bad.db", damage=damage_table("people")),
           "empty file": put("bad.db", b""),
           "future schema": G(rel="bad.db", damage=sql("PRAGMA user_version = 999"))}
# what the reading verbs (list, identify) may do with each damage: any outcome, else refuse
READS = {"damaged page": ANY, "empty file": ANY}


@cache
def has_chattr():
    """None when files can be made immutable here (root, chattr, a filesystem that has it)."""
    if not IS_ROOT or not shutil.which("chattr"):
        return "n/a: needs root and chattr"
    with tempfile.NamedTemporaryFile() as f:
        if subprocess.run(["chattr", "+i", f.name], capture_output=True).returncode:
            return "n/a: this filesystem has no immutable files"
        subprocess.run(["chattr", "-i", f.name], capture_output=True)
    return None


def verbs(gallery, enrol_=REFUSE, reads=REFUSE, check=REPORT):
    """enrol, identify, list and check on ``gallery``, each with its expected outcome."""
    return [("enrol", enrol(PHOTO, gallery=gallery), enrol_),
            ("identify", identify("--images", PHOTO, gallery=gallery), reads),
            ("list", cmd("edge-gallery", "list", "--gallery", gallery), reads),
            ("check", cmd("edge-gallery", "check", "--gallery", gallery), check)]


CASES = [
    # photos, enrolled into the gallery, then identified
    *[Case("image", f"enrol: {what}", enrol(make), expect) for what, make, expect in [
        ("empty file", put("a.jpg", b""), REFUSE),
        ("truncated JPEG", put("a.jpg", lambda: half(FX["face"].read_bytes())), REFUSE),
        ("truncated PNG", put("a.png", lambda: half(cv2.imencode(".png", face())[1])), REFUSE),
        ("text file named .jpg", put("a.jpg", TEXT), REFUSE),
        ("1x1 image", img("a.png", lambda: np.zeros((1, 1, 3), np.uint8)), REFUSE),
        ("3x3 image", TINY, REFUSE),
        ("PNG bomb (20000x20000 declared, 1 MB)", BOMB, REFUSE),
        ("16-bit PNG of a face", img("a.png", lambda: face().astype(np.uint16) * 257), OK),
        ("RGBA PNG of a face", img("a.png", lambda: cv2.cvtColor(face(), cv2.COLOR_BGR2BGRA)), OK),
        ("grey PGM of a face", img("a.pgm", lambda: cv2.cvtColor(face(), cv2.COLOR_BGR2GRAY)), OK),
        ("GIF of a face", gif("a.gif"), OK),
        ("a folder", FOLDER("photos"), REFUSE),
        ("missing path", at("nope.jpg"), REFUSE),
        ("path under a file", UNDER_FILE("a.jpg"), REFUSE),
        ("48 MP JPEG", put("a.jpg", photo48), OK)]],
    Case("image", "enrol: unreadable file (mode 000)", enrol(at("a.jpg", lambda p: (
        shutil.copy(FX["face"], p), p.chmod(0)))), rootless=IS_ROOT),
    *[Case("image", f"identify: {what}", identify("--images", make), expect)
      for what, make, expect in [
        ("empty file", put("a.jpg", b""), REFUSE),
        ("text file named .jpg", put("a.jpg", TEXT), REFUSE),
        ("3x3 image", TINY, REFUSE), ("PNG bomb", BOMB, REFUSE),
        ("missing path", at("nope.jpg"), REFUSE),
        ("path under a file", UNDER_FILE("a.jpg"), REFUSE),
        ("48 MP JPEG", put("a.jpg", photo48), OK)]],
    # names, enrolled into the gallery that holds "Alan Turing" and "Grace Hopper"
    *[Case("name", f"enrol: {what}", enrol(PHOTO, name), expect) for what, name, expect in [
        ("empty", "", REFUSE), ("whitespace only", " \t ", REFUSE),
        ("zero-width only (U+200B)", "\u200b\u200b", REFUSE),
        ("'alan turing' after 'Alan Turing'", "alan turing", REFUSE),
        ("10,000 characters", "A" * 10_000, REFUSE),
        ("control characters", "Ada\x1b[31m\x07", REFUSE),
        ("RTL override (U+202E)", "\u202eecalevoL adA", REFUSE),
        ("a new name (control)", "Ada Lovelace", OK)]],
    # galleries
    *[Case("gallery", f"{verb}: gallery {what}", argv)
      for what, g in [("under a file", UNDER_FILE("g.db")), ("a directory", FOLDER("gdir"))]
      for verb, argv, _ in verbs(g)[:3]],
    *[Case("gallery", f"{verb}: {what} gallery", argv, expect)
      for what, g in DAMAGED.items()
      for verb, argv, expect in verbs(g, OK if what == "empty file" else REFUSE,
                                      READS.get(what, REFUSE),
                                      ANY if what == "empty file" else REPORT)],
    Case("gallery", "identify: mistyped --gallery",
         identify("--images", PHOTO, gallery=at("gallery.db")), after=absent("gallery.db")),
    *[Case("gallery", f"{verb}: read-only (chattr +i) gallery", argv, expect, na=has_chattr)
      for verb, argv, expect in [
        *verbs(G(damage=immutable), REFUSE, OK)[:3],
        ("rename", cmd("edge-gallery", "rename", "Alan Turing", "Alan M. Turing",
                       "--gallery", G(damage=immutable)), REFUSE),
        ("remove", cmd("edge-gallery", "remove", "--yes", "Alan Turing",
                       "--gallery", G(damage=immutable)), REFUSE)]],
    *[Case("gallery", f"{args[0]}: {what}", cmd("edge-gallery", *args, "--gallery", G()))
      for what, args in [
        ("onto another person", ["rename", "Alan Turing", "grace hopper"]),
        ("to an empty name", ["rename", "Alan Turing", " "]),
        ("an unknown name", ["remove", "--yes", "Nobody"]),
        ("to a path under a file", ["export", UNDER_FILE("x.zip")]),
        ("onto a folder", ["export", FOLDER("out")]),
        ("with a missing bundle", ["reembed", "--bundle", "nosuch"])]],
    # bundles, identifying against a gallery of the fast bundle's embeddings
    *[Case("bundle", f"identify: {what}",
           identify("--images", PHOTO, "--bundle", b, gallery=G("gf.db"))) for what, b in [
        ("missing bundle name", "nosuch"),
        ("folder without a manifest", FOLDER("bundle")),
        ("manifest not JSON", at("bundle", lambda p: put("manifest.json", b"{oops")(p))),
        ("threshold 'abc'", bundle(variants("threshold", "abc"))),
        ("threshold NaN", bundle(variants("threshold", float("nan")))),
        ("scale_factor 1.0", bundle(settings(scale_factor=1.0))),
        ("min_face 0", bundle(settings(min_face=0))),
        ("input size 0", bundle(lambda m, _: m["embedding"]["input"].update(size=0))),
        ("no detector section", bundle(lambda m, _: m.pop("detector"))),
        ("a flipped byte in the embedder", bundle(flip_byte))]],
    Case("bundle", "enrol: embedder input unlike the manifest's",
         enrol(PHOTO, gallery=at("new.db"), more=("--bundle", bundle(swap_embedder))),
         after=absent("new.db")),
    Case("bundle", "bench: missing bundle name", cmd("edge-bench", "--bundle", "nosuch")),
    # archives, imported into the gallery
    *[Case("archive", f"import: {what}",
           cmd("edge-gallery", "import", at("x.zip", make), "--gallery", G()), expect, after)
      for what, make, expect, after in [
        ("not a zip", lambda p: p.write_bytes(TEXT), REFUSE, None),
        ("a 1 GiB member of zeros", zeros_zip, REFUSE, None),
        ("path traversal names", zip_of({"manifest.json": "{}", "../../etc/x": "x"}), REFUSE, None),
        ("an export naming its crop ../../etc/x", traversal, ANY, absent("etc/x")),
        ("an export with a tampered data file", tampered, REFUSE, None),
        ("an export of another model", lambda p: shutil.copy(FX["gf.zip"], p), REFUSE, None),
        ("an export of the same model (control)", lambda p: shutil.copy(FX["ada.zip"], p), OK,
         None)]],
    # sources
    *[Case("source", what, argv) for what, argv in [
        ("identify --video missing file", identify("--video", at("nope.mp4"))),
        ("identify --video a text file", identify("--video", put("clip.mp4", TEXT))),
        ("identify --camera banana", identify("--camera", "banana")),
        ("identify --camera 7 (none there)", identify("--camera", "7")),
        ("identify --images an empty folder", identify("--images", FOLDER("empty"))),
        ("identify --images a glob matching nothing", identify("--images", lambda t: t / "*.jpg")),
        ("enrol --camera 7 (none there)",
         cmd("edge-enroll", "Ada", "--camera", "7", "--countdown", "0", "--gallery", G()))]],
    # workstation commands
    *[Case("workstation", what, cmd(*argv)) for what, argv in [
        ("convert a missing model",
         ["siamese-convert", at("nope"), at("out"), "--train", at("t"), "--eval", at("e")]),
        ("convert a text file as model",
         ["siamese-convert", put("model", TEXT), at("out"), "--train", at("t"), "--eval", at("e")]),
        ("train fit on a missing folder",
         ["siamese-train", "fit", at("nope"), at("out"), "--epochs", "1"]),
        ("train prepare an empty folder",
         ["siamese-train", "prepare", FOLDER("empty"), at("out")])]],
]


# ---- running and judging --------------------------------------------------------------

TIMEOUT = 180
INTACT = {"g.db", "gf.db"}   # fixture galleries copied whole: compared by what they hold


def saved(t: Path) -> dict:
    """What the galleries in ``t`` hold: (name, faces) of each person in an intact one,
    the bytes' sha256 of any other."""
    state = {}
    for p in sorted(t.rglob("*.db")):
        if p.name in INTACT:
            with sqlite3.connect(f"file:{p}?mode=ro", uri=True) as db:
                state[p.name] = frozenset(db.execute(
                    "SELECT name, (SELECT count(*) FROM embeddings WHERE person = people.id) "
                    "FROM people"))
        else:
            state[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
    return state


def lost(before: dict, after: dict, may_write: bool) -> tuple[str, str] | None:
    """(kind, what) when a gallery lost what it held, or a file was written by a command
    that had no business writing it (a refusal, or a command that only reads)."""
    for name, was in before.items():
        now = after.get(name)
        if now is None:
            return "lost", f"{name} is gone"
        if isinstance(was, str):
            if now != was and not may_write:
                return "wrote", f"{name} was written"
        elif not (was <= now if may_write else was == now):
            return "lost", f"{name} held {sorted(was)}, now {sorted(now)}"
    return None


def writes(argv: list) -> bool:
    return argv[0] == "edge-enroll" or argv[0] == "edge-gallery" and argv[1] in (
        "import", "rename", "remove", "reembed")


def env(t: Path) -> dict:
    e = {k: v for k, v in os.environ.items() if k not in ("EDGE_GALLERY", "EDGE_TOKEN")}
    return {**e, "PYTHONPATH": str(ROOT), "HOME": str(t / "home"),
            "XDG_DATA_HOME": str(t / "home/share"), "TF_CPP_MIN_LOG_LEVEL": "2"}


def said(out: str, err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("Error:")]
    lines = lines or [line for line in (out + "\n" + err).splitlines() if line.strip()][-1:]
    return lines[0] if lines else ""


def judge(case: Case, status, out: str, err: str) -> tuple[str, str | None]:
    """(verdict, failure kind or None) of a finished command."""
    errors = sum(line.startswith("Error:") for line in err.splitlines())
    if status == "timeout":
        return f"FAIL: no end after {TIMEOUT} s", "timeout"
    if "Traceback" in err:
        return "FAIL: traceback", "traceback"
    if status == 0:
        ok = case.expect in (OK, ANY)
        return ("ok" if ok else "FAIL: accepted"), None if ok else "exit"
    if case.expect == OK or status < 0:
        return f"FAIL: exit {status}", "exit"
    if case.expect != REPORT and errors != 1:
        return f"FAIL: {errors} Error: lines", "exit"
    return "ok (refused)", None


@dataclass
class Row:
    group: str
    case: str
    command: str
    status: object
    line: str
    verdict: str
    kind: str | None = None
    detail: str = ""


def run(case: Case, base: Path) -> Row:
    t = Path(tempfile.mkdtemp(dir=base))
    (t / "home").mkdir()
    (t / "a/b").mkdir(parents=True)   # the working folder: ../../etc/x lands in t/etc/x
    why = case.na() if case.na else None
    if why:
        return Row(case.group, case.name, "", "-", why, "n/a")
    try:
        argv = case.argv(t)
        before = saved(t)
        command = [sys.executable, "-m", MODULES[argv[0]], *argv[1:]]
        try:
            p = subprocess.run((ROOTLESS if case.rootless else []) + command, cwd=t / "a/b",
                               env=env(t), capture_output=True, text=True, timeout=TIMEOUT,
                               stdin=subprocess.DEVNULL)
            status, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as exc:
            status, out, err = "timeout", str(exc.stdout or ""), str(exc.stderr or "")
        verdict, kind = judge(case, status, out, err)
        problem = lost(before, saved(t), status == 0 and writes(argv))
        if problem and kind is None:
            kind, verdict = problem[0], f"FAIL: {problem[1]}"
        problem = case.after(t) if case.after else None
        if problem and kind is None:
            verdict, kind = f"FAIL: {problem}", "after"
        shown = " ".join(a if len(a) < 60 else a[:20] + "..." for a in argv).replace(str(t), "$T")
        return Row(case.group, case.name, argv[0], status, said(out, err).replace(str(t), "$T"),
                   verdict, kind, f"$ {shown}\n" + "\n".join((out + err).splitlines()[-12:]))
    finally:
        subprocess.run(["chattr", "-R", "-i", str(t)], capture_output=True)


def setup(data: Path, fx: Path) -> list[Case]:
    """The fixtures: a face photo, an accurate-model gallery holding Alan Turing and Grace
    Hopper, a fast-model one, and exports of each model; made by the commands themselves."""
    first = {who: sorted((data / "celebs" / who).glob("*.jpg"))[0]
             for who in ("iu", "park_chanho", "kim_yuna", "park_jisung", "son_heungmin")}
    FX.update({"face": first["iu"], "g.db": fx / "g.db", "gf.db": fx / "gf.db",
               "ada.zip": fx / "ada.zip", "gf.zip": fx / "gf.zip"})
    steps = [("Alan Turing", "park_chanho", "g.db", "accurate"),
             ("Grace Hopper", "kim_yuna", "g.db", "accurate"),
             ("Katherine Johnson", "park_jisung", "gf.db", "fast"),
             ("Ada Lovelace", "son_heungmin", "ada.db", "accurate")]
    cases = [Case("setup", f"enrol {who} ({bundle_name})",
                  cmd("edge-enroll", who, "--image", first[celeb], "--gallery", fx / db,
                      "--bundle", bundle_name), OK) for who, celeb, db, bundle_name in steps]
    cases += [Case("setup", f"export {db}", cmd("edge-gallery", "export", fx / out,
                                                 "--gallery", fx / db), OK)
              for db, out in (("ada.db", "ada.zip"), ("gf.db", "gf.zip"))]
    return cases


# ---- the web view ---------------------------------------------------------------------

TOKEN = "battery-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PATHS = ("/tmp/", "/work/", "/root/", "/home/", "/usr/", "/var/")


def form(headers=AUTH, **fields) -> tuple[dict, bytes]:
    """(headers, body) of a multipart form; bytes values are sent as files."""
    parts = []
    for key, value in fields.items():
        head = f'--b0undary\r\nContent-Disposition: form-data; name="{key}"'
        if isinstance(value, bytes):
            head += f'; filename="{key}.jpg"\r\nContent-Type: image/jpeg'
        parts.append(f"{head}\r\n\r\n".encode() + (value if isinstance(value, bytes)
                                                   else value.encode()) + b"\r\n")
    return ({**headers, "Content-Type": "multipart/form-data; boundary=b0undary"},
            b"".join(parts) + b"--b0undary--\r\n")


def asks() -> list:
    """The requests: what, method, path, headers and body; each must be refused (4xx)."""
    return [("thumbnail 99999999999999999999", "GET", "/thumbnails/99999999999999999999.png",
             AUTH, b""),
            ("POST without the token", "POST", "/api/enrol", *form({}, name="Eve", photo=TEXT)),
            ("a 33 MB upload (over the app's limit)", "POST", "/api/identify",
             *form(photo=bytes(33_700_000))),
            ("a 40 MB upload (over the server's)", "POST", "/api/identify",
             *form(photo=bytes(40 << 20))),
            ("a text file as photo", "POST", "/api/identify", *form(photo=TEXT)),
            ("a text file to enrol (page)", "POST", "/enrol", *form(name="Eve", photo=TEXT)),
            ("a change from another Origin", "POST", "/api/remove",
             {**AUTH, "Origin": "http://evil.example", "Content-Type": "application/json"},
             b'{"name": "Alan Turing"}')]


def request(port, method, path, headers, body=b""):
    """(status, body) of one request, sent whole unless the server answers (and closes)
    first, as it may for an upload that is too large; (a reason, "") without an answer."""
    import http.client
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
            head = "".join(f"{k}: {v}\r\n" for k, v in {
                "Host": f"127.0.0.1:{port}", "Connection": "close",
                "Content-Length": len(body), **headers}.items())
            try:
                conn.sendall(f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode() + body)
            except OSError:
                pass
            answer = http.client.HTTPResponse(conn)
            answer.begin()
            return answer.status, answer.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as exc:
        return f"no answer ({type(exc).__name__})", ""


def web_rows(base: Path) -> list[Row]:
    """edge-identify --serve on one photo, then ``asks()``: each must be refused (4xx, no
    5xx) with no server path in the answer; and no traceback in the server's output."""
    import socket
    import time

    t = Path(tempfile.mkdtemp(dir=base))
    (t / "home").mkdir()
    (t / "token").write_text(TOKEN)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(t / "server.log", "w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "edge.cli_identify", "--images", str(PHOTO(t)),
         "--gallery", str(G()(t)), "--serve", f"127.0.0.1:{port}", "--token-file",
         str(t / "token")], env=env(t), cwd=t, stdin=subprocess.DEVNULL, stdout=log,
        stderr=subprocess.STDOUT)
    rows = []
    try:
        for _ in range(120):
            if request(port, "GET", "/static/x", {})[0] != "no answer (ConnectionRefusedError)":
                break
            time.sleep(0.5)
        for what, method, path, headers, body in asks():
            status, answer = request(port, method, path, headers, body)
            leak = next((p for p in PATHS if p in answer), None)
            if not isinstance(status, int):
                verdict, kind = "ok (refused)", None     # the server closed: no 5xx
            elif status >= 500:
                verdict, kind = f"FAIL: {status}", "5xx"
            elif status < 400:
                verdict, kind = "FAIL: accepted", "exit"
            elif leak:
                verdict, kind = f"FAIL: a server path ({leak}...) in the answer", "leak"
            else:
                verdict, kind = "ok (refused)", None
            line = " ".join(re.sub(r"(?s)<head>.*</head>|<[^>]+>", " ", answer).split())
            rows.append(Row("web", what, f"{method} {path[:24]}", status, line[:200], verdict,
                            kind, f"{method} {path}\n{answer[:2000]}"))
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.seek(0)
        out = log.read()
    bad = "Traceback" in out
    rows.append(Row("web", "the server's own output", "edge-identify", server.returncode,
                    said("", out), "FAIL: traceback" if bad else "ok",
                    "traceback" if bad else None, out[-3000:]))
    return rows


# ---- the report -----------------------------------------------------------------------

KINDS = {"traceback": "tracebacks", "exit": "wrong exits", "timeout": "timeouts",
         "lost": "galleries that lost people",
         "wrote": "files written by a refused or reading command",
         "after": "files made that must not be", "5xx": "5xx answers",
         "leak": "answers showing server paths"}
HEADER = f"{'GROUP':<11} {'CASE':<46} {'COMMAND':<15} {'EXIT':>5}  {'LINE PRINTED':<70}  VERDICT"


def show(row: Row) -> None:
    click.echo(f"{row.group:<11} {row.case[:46]:<46} {row.command:<15} {str(row.status):>5}  "
               f"{row.line[:70]:<70}  {row.verdict}")


@click.command()
@click.option("--data", default="../shared/data", show_default=True,
              type=click.Path(file_okay=False))
@click.option("--only", help="Run only the cases whose group or name holds this text.")
@click.option("--no-web", is_flag=True, help="Skip the web view's requests.")
def main(data, only, no_web):
    """Run the hostile battery against this checkout's commands; exit 1 on any failure."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="battery-") as base:
        base = Path(base)
        (base / "fx").mkdir()
        click.echo(HEADER)
        for case in setup(Path(data).resolve(), base / "fx"):   # the cases run elsewhere
            rows.append(run(case, base))
            show(rows[-1])
            if rows[-1].kind:
                sys.exit(f"setup failed:\n{rows[-1].detail}")
        for case in CASES:
            if only and only not in case.group and only not in case.name:
                continue
            rows.append(run(case, base))
            show(rows[-1])
        if not no_web and (not only or only in "web"):
            for row in web_rows(base):
                rows.append(row)
                show(row)
    failed = [r for r in rows if r.kind]
    if failed:
        click.echo("\nFailures in full:")
        for r in failed:
            click.echo(f"\n[{r.group}] {r.case}: {r.verdict} (exit {r.status})\n{r.detail}")
    counts = {label: sum(r.kind == kind for r in rows) for kind, label in KINDS.items()}
    click.echo(f"\n{len(rows)} cases: {sum(r.verdict.startswith('ok') for r in rows)} ok, "
               f"{len(failed)} failed, {sum(r.verdict == 'n/a' for r in rows)} n/a; "
               + ", ".join(f"{n} {label}" for label, n in counts.items()))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
