"""fp32 against int8 for each shipped bundle: size, per-face latency, accuracy.

The pieces are ``edge-bench``'s (``edge.bench.embedding_latency`` in a fresh child per
measurement; ``edge.cli_bench._accuracy`` for one-shot, ROC, EER and accuracy at the
variant's threshold, with ``edge.metrics``). A bundle may ship only one variant (the
accurate bundle ships int8 alone); then the missing fp32 file is converted in this run
from the Keras model the bundle was made from (its manifest's ``made_by`` names it), and
given the threshold the bundle's ``report.json`` calibrated for it, so both variants are
measured side by side. That conversion needs TensorFlow: this is a workstation suite.
"""
from __future__ import annotations

import json
import shlex
from dataclasses import replace
from pathlib import Path

from edge.bundle import MANIFEST, load_bundle, sha256_file
from edge.manifest import Variant, write_manifest

ORDER = ("fp32", "fp16", "dynamic", "int8")


def keras_dir_of(bundle) -> Path | None:
    """The fit output folder the bundle was converted from (``made_by``'s first argument)."""
    try:
        words = shlex.split(bundle.manifest.made_by or "")
    except ValueError:
        return None
    return Path(words[1]) if len(words) > 1 else None


def complete_bundle(name_or_path, work: Path, keras_dir=None, log=print):
    """The bundle with an fp32 and an int8 variant: itself when it ships both, else a
    copy in ``work`` (links to its files) with the missing fp32 converted now.

    Returns (bundle, {variant: note on where it came from}).
    """
    b = load_bundle(name_or_path)
    variants = b.spec.variants
    if "fp32" in variants or "int8" not in variants:
        return b, {}
    name = b.name
    keras_dir = Path(keras_dir) if keras_dir else keras_dir_of(b)
    report = json.loads((b.path / "report.json").read_text())
    fp32_report = report.get("variants", {}).get("fp32")
    if keras_dir is None or not (keras_dir / "summary.json").is_file() or fp32_report is None:
        return b, {"fp32": f"not shipped, and no Keras model ({keras_dir}) or fp32 threshold "
                           f"in report.json to rebuild it from: not measured"}
    from convert.embedding import to_tflite
    from train.fit import load_branch

    out = work / name
    out.mkdir(parents=True)
    for f in b.path.iterdir():
        if f.name != MANIFEST:
            (out / f.name).symlink_to(f.resolve())
    log(f"  {name}: converting the fp32 variant from {keras_dir} (not shipped) ...")
    data = to_tflite(load_branch(keras_dir), "fp32")
    path = out / "embedding_fp32.tflite"
    path.write_bytes(data)
    fp32 = {"file": path.name, "sha256": sha256_file(path), "bytes": len(data),
            "threshold": fp32_report["threshold"]}
    if "identification" in fp32_report:
        fp32["identification"] = fp32_report["identification"]
    variants = {**variants, "fp32": Variant.from_dict(fp32, "fp32")}
    ordered = {k: variants[k] for k in sorted(variants, key=lambda v: ORDER.index(v)
                                              if v in ORDER else len(ORDER))}
    write_manifest(out, replace(b.manifest, embedding=replace(b.spec, variants=ordered)))
    same = "the same size as" if len(data) == fp32_report.get("bytes") else "NOT the size of"
    note = (f"not shipped in the bundle: converted in this run from {keras_dir} "
            f"({len(data):,} bytes, {same} the fp32 in the bundle's conversion report, "
            f"{fp32_report.get('bytes', 0):,}); threshold {fp32_report['threshold']:.3f} "
            f"from that report")
    return load_bundle(out), {"fp32": note}


def measure(bundle, aligned: dict | None, raw: dict | None, threads=(1, 2), warmup: int = 20,
            runs: int = 200, log=print) -> dict:
    """Every variant's size, per-face latency at each thread count, and accuracy on
    ``aligned`` (person -> aligned crops, as the conversion report) and ``raw``
    (person -> photos, detected and aligned by the bundle's own detector)."""
    from edge.bench import embedding_latency
    from edge.cli_bench import _accuracy
    from edge.macs import model_multiply_adds

    out = {}
    for variant, model in bundle.spec.variants.items():
        path = bundle.file(model.file)
        lat = []
        for t in threads:
            r = embedding_latency(path, t, warmup, runs)
            lat.append(r)
            log(f"  {variant:5s} {t} thread(s): p50 {r['p50']:.2f} ms, p95 {r['p95']:.2f} ms "
                f"({warmup} warm-up, {runs} runs), {r['bytes'] / 1e6:.2f} MB, "
                f"peak RSS {r['peak_rss_mb']:.0f} MB")
        out[variant] = {"file": model.file, "bytes": path.stat().st_size,
                        "threshold": float(model.threshold), "latency": lat,
                        "multiply_adds": model_multiply_adds(path)}
    for key, faces, is_aligned in (("accuracy", aligned, True), ("accuracy_raw", raw, False)):
        if faces:  # "faces": the photos measured, those edge-enroll would accept when raw
            for variant, acc in _accuracy(bundle, faces, is_aligned).items():
                out[variant][key] = {**acc, "photos": sum(map(len, faces.values()))}
    return out
