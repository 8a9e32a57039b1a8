"""PNG plots of one suite run (``benchmarks.run``), each naming the machine and date."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"fp32": "#4c72b0", "int8": "#dd8452", "peer": "#8c8c8c", "seed": "#55a868"}


def _stamp(fig, r):
    m = r["machine"]
    fig.text(0.01, 0.005, f"{m['cpu']}, {m['cores']} cores, {m['date']}, load average "
             f"{m['load_start'][0]:.1f} at start (shared machine: noisy)", fontsize=7,
             color="#555555", ha="left", va="bottom")


def _save(fig, r, path):
    _stamp(fig, r)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latency(r, out):
    bundles = r["bundles"]
    fig, axes = plt.subplots(1, len(bundles), figsize=(5.2 * len(bundles), 4.2), squeeze=False)
    for ax, (name, b) in zip(axes[0], bundles.items()):
        variants = list(b["variants"])
        threads = [x["threads"] for x in b["variants"][variants[0]]["latency"]]
        width = 0.8 / len(variants)
        for i, v in enumerate(variants):
            lat = b["variants"][v]["latency"]
            xs = [t + (i - (len(variants) - 1) / 2) * width for t in range(len(threads))]
            p50 = [x["p50"] for x in lat]
            ax.bar(xs, p50, width, color=COLOURS.get(v), label=v,
                   yerr=[[0] * len(lat), [x["p95"] - x["p50"] for x in lat]], capsize=4)
            for x, y in zip(xs, p50):
                ax.annotate(f"{y:.1f}" if y >= 1 else f"{y:.2f}", (x, y), ha="left",
                            va="bottom", fontsize=8, xytext=(6, 1), textcoords="offset points",
                            bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none",
                                      alpha=0.8))
        ax.set_xticks(range(len(threads)), [f"{t} thread{'s' * (t > 1)}" for t in threads])
        ax.set_ylabel("ms per face (bar p50, whisker to p95)")
        ax.set_title(f"{name}: embedding latency per face")
        ax.legend()
    return _save(fig, r, out / "latency_by_variant.png")


def roc(r, out):
    written = []
    for name, b in r["bundles"].items():
        fig, ax = plt.subplots(figsize=(5.6, 5))
        for v, d in b["variants"].items():
            a = d.get("accuracy")
            if not a:
                continue
            fpr = [max(x, 1e-4) for x in a["roc"]["fpr"]]
            ax.plot(fpr, a["roc"]["tpr"], color=COLOURS.get(v), lw=2 if v == "fp32" else 1.4,
                    ls="-" if v == "fp32" else "--",
                    label=f"{v}: AUC {a['auc']:.4f}, EER {a['eer']:.1%}, "
                          f"one-shot {a['one_shot']['accuracy']:.1%}")
        ax.set_xscale("log")
        ax.set_xlim(1e-3, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(True, which="both", alpha=0.3)
        ax.set_xlabel("false accept rate (log)")
        ax.set_ylabel("true accept rate")
        ax.set_title(f"{name}: verification ROC, ORL s21..s40 (unseen)")
        ax.legend(loc="lower right", fontsize=8)
        written.append(_save(fig, r, out / f"roc_{name}.png"))
    return written


def size(r, out):
    labels, sizes, colours = [], [], []
    for name, b in r["bundles"].items():
        for v, d in b["variants"].items():
            labels.append(f"{name}\n{v}")
            sizes.append(d["bytes"] / 1e6)
            colours.append(COLOURS.get(v))
    fig, ax = plt.subplots(figsize=(1.6 * len(labels) + 2, 4))
    bars = ax.bar(range(len(labels)), sizes, color=colours)
    for bar, s in zip(bars, sizes):
        ax.annotate(f"{s:.2f} MB", (bar.get_x() + bar.get_width() / 2, s), ha="center",
                    va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    for name, b in r["bundles"].items():
        v = b["variants"]
        if "fp32" in v and "int8" in v:
            i = labels.index(f"{name}\nint8")
            ax.annotate(f"{v['fp32']['bytes'] / v['int8']['bytes']:.2f}x smaller",
                        (i, sizes[i]), ha="center", va="bottom", fontsize=8,
                        xytext=(0, 14), textcoords="offset points", color="#aa3311")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylabel("embedding model file, MB")
    ax.set_ylim(0, max(sizes) * 1.25)
    ax.set_title("Model size by variant")
    return _save(fig, r, out / "size_by_variant.png")


def gallery(r, out):
    fig, ax = plt.subplots(figsize=(6, 4.4))
    groups = {}
    for x in r["gallery"]:
        groups.setdefault(x.get("blas_threads", "default"), []).append(x)
    for k, ((blas, g), colour) in enumerate(zip(groups.items(),
                                                ("#4c72b0", "#dd8452", "#55a868"))):
        n = [x["stored"] for x in g]
        ax.loglog(n, [x["p50"] for x in g], "o-", color=colour, label=f"p50, BLAS threads {blas}")
        ax.loglog(n, [x["p95"] for x in g], "s:", color=colour, alpha=0.6,
                  label=f"p95, BLAS threads {blas}")
        for x in g:
            ax.annotate(f"{x['p50']:.2f}", (x["stored"], x["p50"]), fontsize=7, color=colour,
                        xytext=(5, -11 if k % 2 == 0 else 5), textcoords="offset points",
                        bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.7))
    ax.axhline(2.0, color="#aa3311", ls="--", lw=1)
    ax.axvline(10000, color="#aa3311", ls="--", lw=0.6)
    ax.annotate("target: 10,000 people < 2 ms", (12, 2.0), va="bottom", fontsize=8,
                color="#aa3311")
    ax.set_xlabel("people stored (one 128-d embedding each)")
    ax.set_ylabel("ms to match one face")
    ax.set_title("Gallery matching as it grows")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize=7)
    return _save(fig, r, out / "gallery_scaling.png")


def fps(r, out):
    rows = []
    for p in r["pipeline"]:
        rows.append((f"{p['bundle']} {p['variant']}, detect every {p['every']}, "
                     f"{p['threads']} threads", p["fps"], COLOURS.get(p["variant"])))
    fr = r.get("peers", {}).get("face_recognition", {}).get("clip")
    if fr:
        rows.append((f"face_recognition (dlib HOG, upsample {fr['upsample']}), every frame",
                     fr["fps"], COLOURS["peer"]))
    fig, ax = plt.subplots(figsize=(8.5, 0.42 * len(rows) + 1.6))
    ys = range(len(rows))[::-1]
    ax.barh(list(ys), [x[1] for x in rows], color=[x[2] for x in rows])
    for y, (_, v, _) in zip(ys, rows):
        ax.annotate(f"{v:.1f}" if v >= 10 else f"{v:.2f}", (v, y), va="center", fontsize=8,
                    xytext=(3, 0), textcoords="offset points")
    ax.set_yticks(list(ys), [x[0] for x in rows], fontsize=8)
    ax.axvline(30, color="#aa3311", ls=":", lw=1)
    ax.annotate("30 fps target", (30, len(rows) - 0.5), fontsize=8, color="#aa3311",
                xytext=(3, 0), textcoords="offset points")
    ax.set_xlabel("frames per second, 640x480 clip, 1-3 faces (decoding included)")
    ax.set_title("End to end on the clip: fps by setting, and the peer")
    ax.set_xlim(0, max(x[1] for x in rows) * 1.15)
    return _save(fig, r, out / "fps_by_setting.png")


def detector(r, out):
    d = r.get("detector")
    if not d:
        return None
    sizes = [s["size"] for s in d["speed"]]
    series = {"mtcnn package (TF)": [s["package"]["p50"] for s in d["speed"]]}
    for label in d["speed"][0]["tflite"]:
        series[label] = [s["tflite"][label]["p50"] for s in d["speed"]]
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    width = 0.8 / len(series)
    for i, (label, ys) in enumerate(series.items()):
        xs = [k + (i - (len(series) - 1) / 2) * width for k in range(len(sizes))]
        ax.bar(xs, ys, width, label=label, color=COLOURS["peer"] if i == 0 else None)
        for x, y in zip(xs, ys):
            ax.annotate(f"{y:.0f}", (x, y), ha="center", va="bottom", fontsize=7,
                        xytext=(0, 1), textcoords="offset points")
    ax.set_yscale("log")
    ax.set_xticks(range(len(sizes)), sizes)
    ax.set_ylabel("ms per frame, p50 (log)")
    ax.set_title("Face detection: TFLite MTCNN vs the mtcnn package")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    return _save(fig, r, out / "detector_speed.png")


def all_plots(r, out) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if any(b.get("variants") for b in r.get("bundles", {}).values()):
        written += [latency(r, out), *roc(r, out), size(r, out)]
    if r.get("gallery"):
        written.append(gallery(r, out))
    if r.get("pipeline"):
        written.append(fps(r, out))
    d = detector(r, out)
    if d:
        written.append(d)
    return written
