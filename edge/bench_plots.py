"""PNG plots of an ``edge-bench`` report (matplotlib, when installed)."""
from __future__ import annotations

from pathlib import Path


def plots(report: dict, out) -> list[Path]:
    try:
        import matplotlib
    except ImportError:
        return []
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out, written = Path(out), []
    machine = f"{report['machine']['cpu']}, {report['machine']['date']}"
    for name, b in report["bundles"].items():
        emb = b.get("embedding")
        if emb:
            fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
            variants = list(emb)
            threads = [r["threads"] for r in emb[variants[0]]]
            width = 0.8 / len(variants)
            for i, v in enumerate(variants):
                ax1.bar([t + (i - (len(variants) - 1) / 2) * width for t in range(len(threads))],
                        [r["p50"] for r in emb[v]], width, label=v,
                        yerr=[[0] * len(threads), [r["p95"] - r["p50"] for r in emb[v]]])
            ax1.set_xticks(range(len(threads)), [f"{t} thread{'s' * (t > 1)}" for t in threads])
            ax1.set_ylabel("ms per face (p50, bar to p95)")
            ax1.set_title(f"{name}: embedding latency")
            ax1.legend()
            ax2.bar(variants, [emb[v][0]["bytes"] / 1e6 for v in variants], color="grey")
            ax2.set_ylabel("MB")
            ax2.set_title("model size")
            fig.suptitle(machine, fontsize=8)
            fig.tight_layout()
            written.append(out / f"{name}_latency_size.png")
            fig.savefig(written[-1], dpi=110)
            plt.close(fig)
        acc = b.get("accuracy")
        if acc:
            fig, ax = plt.subplots(figsize=(5, 5))
            for v, a in acc.items():
                ax.plot(a["roc"]["fpr"], a["roc"]["tpr"],
                        label=f"{v}: AUC {a['auc']:.4f}, one-shot {a['one_shot']['accuracy']:.1%}")
            ax.plot([0, 1], [0, 1], ":", color="grey")
            ax.set_xlabel("false accept rate")
            ax.set_ylabel("true accept rate")
            ax.set_title(f"{name}: ROC by variant")
            ax.legend(loc="lower right", fontsize=8)
            fig.tight_layout()
            written.append(out / f"{name}_roc.png")
            fig.savefig(written[-1], dpi=110)
            plt.close(fig)
    if report.get("gallery"):
        fig, ax = plt.subplots(figsize=(5, 4))
        g = report["gallery"]
        ax.loglog([r["stored"] for r in g], [r["p50"] for r in g], "o-", label="p50")
        ax.loglog([r["stored"] for r in g], [r["p95"] for r in g], "s--", label="p95")
        ax.set_xlabel("stored embeddings")
        ax.set_ylabel("ms per face")
        ax.set_title("gallery matching")
        ax.legend()
        fig.tight_layout()
        written.append(out / "gallery_scaling.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    return written
