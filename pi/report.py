"""The Pi check's verdict: compare every emulated run with x86 running the same install.

    python pi/report.py OUT --cpus "..." --runtimes "..." --bundles "..." [--tests 1]

Reads OUT/x86-<runtime> and OUT/<cpu>-<runtime> (written by pi/device.sh) and OUT/alignment.txt,
writes OUT/summary.md and OUT/summary.json, prints the summary, and exits 1 when a test
failed, an identification differs from x86 (how many names are right is shown beside it,
not judged: that is the bundle's accuracy, not the device's), an embedding differs by more
than TOLERANCE, or a shared library is aligned below 16 KiB.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

TOLERANCE = 0.05   # largest |difference| allowed between unit-length embeddings
ENROLLED = {f"s{i}" for i in range(1, 9)}


def names(path: Path) -> dict[str, list[str]]:
    """file name -> names identified in it, from edge-identify --json output."""
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.startswith("{"):
                d = json.loads(line)
                out[Path(d.get("file", str(d["frame"]))).name] = sorted(f["name"] for f in d["faces"])
    return out


def truth(file: str) -> list[str]:
    person = file.split("_")[0]
    return [person if person in ENROLLED else "unknown"]


def times(path: Path) -> dict[str, int]:
    if not path.exists():
        return {}
    return {k: int(v) for k, v in (line.split() for line in path.read_text().splitlines() if line.strip())}


def run_summary(run: Path, x86: Path, bundles: list[str], tests: bool) -> dict:
    s: dict = {"versions": json.loads((run / "versions.json").read_text()), "times": times(run / "times.txt")}
    cpuinfo = run / "cpuinfo.txt"
    s["cpuinfo"] = cpuinfo.read_text().strip().splitlines() if cpuinfo.exists() else []
    problems = []
    if tests:
        log = (run / "pytest.log").read_text() if (run / "pytest.log").exists() else ""
        status = (run / "pytest.status").read_text().strip() if (run / "pytest.status").exists() else "?"
        counts = re.findall(r"^=*\s*(\d+ (?:passed|failed|skipped|deselected|errors?|xfailed).*?)\s*=*$", log, re.M)
        s["tests"] = {"status": status, "summary": counts[-1] if counts else "no summary line",
                      "workstation_skips": re.findall(r"^device run: .*$", log, re.M)}
        if status != "0":
            problems.append(f"tests exit {status}: {s['tests']['summary']}")
    s["identify"] = {}
    for b in bundles:
        got, ref = names(run / f"identify-{b}.jsonl"), names(x86 / f"identify-{b}.jsonl")
        right = sum(got.get(f) == truth(f) for f in ref)
        same = got == ref
        s["identify"][b] = {"right": right, "of": len(ref), "same_as_x86": same, "names": got}
        if not ref:
            problems.append(f"{b}: x86 identified nothing")
        if not same:
            problems.append(f"{b}: identify differs from x86: {got} vs {ref}")
    s["embeddings"] = {}
    if not (run / "embeddings.npz").exists():
        s["problems"] = problems + ["no embeddings (see embed.log)"]
        return s
    e, r = np.load(run / "embeddings.npz"), np.load(x86 / "embeddings.npz")
    for key in r.files:
        if key not in e.files:
            problems.append(f"{key}: missing in the device run")
            continue
        diff = float(np.abs(e[key] - r[key]).max())
        entry = {"max_abs_diff": diff}
        if key.endswith("/detector"):
            entry["unit"] = "pixels (box corners and landmarks)"
        else:
            entry["min_cosine"] = float((e[key] * r[key]).sum(axis=1).min())
            if diff > TOLERANCE:
                problems.append(f"{key}: embeddings differ by {diff:.3g} (> {TOLERANCE})")
        s["embeddings"][key] = entry
    s["problems"] = problems
    return s


def alignment(path: Path) -> dict:
    rows = [line.split(" ", 2) for line in path.read_text().splitlines()] if path.exists() else []
    low = [{"align": a, "file": f} for ok, a, f in rows if ok == "0"]
    return {"checked": len(rows), "below_16k": low}


def fmt(x: float) -> str:
    return "0" if x == 0 else f"{x:.2g}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--cpus", required=True)
    p.add_argument("--runtimes", required=True)
    p.add_argument("--bundles", required=True)
    p.add_argument("--tests", default="1")
    p.add_argument("--seconds", type=int)
    a = p.parse_args()
    cpus, runtimes, bundles = a.cpus.split(), a.runtimes.split(), a.bundles.split()
    tests = a.tests == "1"
    x86 = {rt: a.out / f"x86-{rt}" if (a.out / f"x86-{rt}").is_dir() else a.out / "x86" for rt in runtimes}
    report = {"settings": {"cpus": cpus, "runtimes": runtimes, "bundles": bundles, "tests": tests},
              "seconds": a.seconds, "install_seconds": times(a.out / "times.txt"),
              "x86": {rt: json.loads((x86[rt] / "versions.json").read_text()) for rt in runtimes},
              "runs": {}, "alignment": alignment(a.out / "alignment.txt")}
    for cpu in cpus:
        for rt in runtimes:
            report["runs"][f"{cpu}/{rt}"] = run_summary(a.out / f"{cpu}-{rt}", x86[rt], bundles, tests)
    (a.out / "summary.json").write_text(json.dumps(report, indent=1))

    lines = ["# Pi check: emulated Raspberry Pi OS Bookworm (arm64) against x86", "",
             "Each run is compared with x86 running the same install (same pip arguments) on "
             "the same inputs. x86: " + "; ".join(
                 f"{rt}: {v['runtime']} {v['runtime_version']}, numpy {v['numpy']}, OpenCV {v['opencv']}"
                 for rt, v in report["x86"].items()) + f". Total {a.seconds} s.", "",
             "| CPU | runtime | versions | tests | identify (right / probes, = x86) | "
             "largest embedding difference | detector (px) |",
             "|---|---|---|---|---|---|---|"]
    for key, s in report["runs"].items():
        cpu, rt = key.split("/")
        ver = s["versions"]
        version = (f"{ver['runtime']} {ver['runtime_version']}, numpy {ver['numpy']}, "
                   f"OpenCV {ver['opencv']}")
        t = s.get("tests", {}).get("summary", "not run")
        ident = "; ".join(f"{b} {d['right']}/{d['of']} {'=' if d['same_as_x86'] else '≠'}"
                          for b, d in s["identify"].items())
        emb = "; ".join(f"{k} {fmt(d['max_abs_diff'])}" for k, d in s["embeddings"].items()
                        if not k.endswith("/detector"))
        det = "; ".join(f"{k.split('/')[0]} {fmt(d['max_abs_diff'])}" for k, d in s["embeddings"].items()
                        if k.endswith("/detector"))
        lines.append(f"| {cpu} | {rt} | {version} | {t} | {ident} | {emb} | {det} |")
    al = report["alignment"]
    lines += ["", f"Shared libraries in the venvs (and apt's numpy): {al['checked']} checked, "
              f"{len(al['below_16k'])} with a LOAD segment aligned below 0x4000"
              + (":" if al["below_16k"] else ".")]
    lines += [f"- {d['file']} ({d['align']})" for d in al["below_16k"]]
    problems = [f"{k}: {p}" for k, s in report["runs"].items() for p in s["problems"]]
    problems += [f"16K pages: {d['file']} aligned {d['align']}" for d in al["below_16k"]]
    lines += ["", "Problems: none." if not problems else "Problems:"] + [f"- {p}" for p in problems]
    text = "\n".join(lines) + "\n"
    (a.out / "summary.md").write_text(text)
    print(text)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
