"""The wild protocol (``../shared/data/README.md``): open-set one-shot on LFW's evaluation
people, for every bundle variant and the ``face_recognition`` peer, on the same rounds.

The photos are the evaluation people's whose labelled face ``siamese-train prepare-wild``
found (the face nearest the centre). Each bundle embeds its aligned crops; a photo may
be enrolled when ``edge-enroll`` would accept it (``edge.enrolment.snapshot_of`` on the
original photo, with the bundle's detector), and the seeded rounds of
``edge.metrics.open_set`` choose the same galleries for everyone measured. The threshold
is each variant's own for a gallery of that many faces at 1% strangers accepted
(``Bundle.threshold_for``). The peer encodes the original photos with its own detector
(the face nearest the centre; the whole photo when it finds none) at its default
tolerance, 0.6.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from edge import metrics
from edge.images import is_image_name

ROUNDS = 5


def eval_photos(prepared: Path, lfw: Path) -> tuple[list[Path], list[Path], np.ndarray]:
    """(aligned crops, original photos, labels) in ``train.data.load_folder``'s order."""
    crops, originals, labels = [], [], []
    people = sorted(p for p in prepared.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    for label, person in enumerate(people):
        for f in sorted(f for f in person.iterdir() if f.is_file() and is_image_name(f)):
            crops.append(f)
            name = person.name.removeprefix("lfw_")    # prepare-wild's folder names
            found = sorted((lfw / name).glob(f"{f.stem}.*"))
            if not found:
                raise FileNotFoundError(f"{lfw / name}/{f.stem}.*: the original photo of {f} "
                                        "is missing")
            originals.append(found[0])
            labels.append(label)
    return crops, originals, np.array(labels)


def enrollable(bundle, originals: list[Path]) -> tuple[np.ndarray, dict]:
    """Which photos ``edge-enroll`` would accept, and the refusals counted by reason."""
    from edge.enrolment import EnrolError, snapshot_of

    detector = bundle.detector(2)
    ok, refused = [], Counter()
    for path in originals:
        try:
            snapshot_of(cv2.imread(str(path)), detector)
            ok.append(True)
        except EnrolError as exc:
            ok.append(False)
            refused[exc.reason] += 1
    return np.array(ok), dict(refused)


def bundle_scores(bundle, crops: list[Path], labels, ok, log=print) -> dict:
    """Open set for every variant of ``bundle`` at its own threshold."""
    from edge.bundle import load_bundle

    thumbs = np.stack([cv2.imread(str(c)) for c in crops])   # 112 px BGR, as enrolment stores
    n = len(np.unique(labels)) // 2
    out = {}
    for variant in bundle.spec.variants:
        v = load_bundle(bundle.path, variant, verify=False)   # checked when first loaded
        embedder = v.thumbnail_embedder(2)
        emb = np.concatenate([embedder.embed(thumbs[i:i + 64]) for i in range(0, len(thumbs), 64)])
        threshold = v.threshold_for(n)
        r = metrics.open_set(emb, labels, threshold, rounds=ROUNDS, seed=0, enrollable=ok)
        out[variant] = {**r.as_dict(), "threshold_rule": "1% FPIR for the gallery's size"
                        if v.model.identification is not None else "the bundle's one threshold"}
        log(f"  {variant}: {line(out[variant])}")
    return out


def peer_scores(originals: list[Path], labels, ok, log=print) -> dict:
    """``face_recognition`` on the original photos, the same rounds and enrollable photos."""
    import face_recognition as fr

    from benchmarks.peers import TOLERANCE

    encodings, found = [], 0
    for path in originals:
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        locs = fr.face_locations(rgb)
        if locs:   # the face nearest the centre, as prepare-wild takes
            found += 1
            loc = min(locs, key=lambda b: np.hypot((b[1] + b[3]) / 2 - w / 2,
                                                   (b[0] + b[2]) / 2 - h / 2))
        else:
            loc = (0, w, h, 0)
        encodings.append(fr.face_encodings(rgb, [loc])[0])
    r = metrics.open_set(np.array(encodings), labels, TOLERANCE, rounds=ROUNDS, seed=0,
                         enrollable=ok)
    out = {**r.as_dict(), "faces_found": found, "photos": len(originals),
           "threshold_rule": f"its default tolerance {TOLERANCE}"}
    log(f"  face_recognition: {line(out)} ({found} of {len(originals)} photos with a face found)")
    return out


def line(r: dict) -> str:
    return (f"known named right {r['known_right']:.1%}, wrong {r['known_wrong']:.2%}, strangers "
            f"accepted {r['strangers_accepted']:.2%} (threshold {r['threshold']:.3f}); right at "
            f"{r['fpir']:.0%} strangers accepted {r['right_at_fpir']:.1%}")


def run(loaded: dict, prepared: Path, lfw: Path, with_peer: bool, log=print) -> dict:
    crops, originals, labels = eval_photos(prepared, lfw)
    out = {"folder": str(prepared), "people": int(len(np.unique(labels))), "photos": len(crops),
           "rounds": ROUNDS, "bundles": {}}
    first = next(iter(loaded.values()))
    ok, refused = enrollable(first, originals)
    out.update(enrollable=int(ok.sum()), refused=refused,
               enrollable_by=first.name)
    log(f"  {len(crops)} photos of {out['people']} people; edge-enroll would accept "
        f"{ok.sum()} ({', '.join(f'{v} {k}' for k, v in refused.items()) or 'none refused'})")
    for name, b in loaded.items():
        log(f"  [{name}]")
        out["bundles"][name] = bundle_scores(b, crops, labels, ok, log)
    if with_peer:
        out["face_recognition"] = peer_scores(originals, labels, ok, log)
    return out
