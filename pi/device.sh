#!/usr/bin/env bash
# The device side of the Pi check. Runs inside the emulated arm64 root filesystem, and on
# x86 for the reference run. Called by pi/check.sh; see docs/pi.md.
#
#   device.sh install VENV WHEELS PIP-ARGS...   make the venv as docs/pi.md tells a Pi user
#   device.sh run OUT                           tests, enrol + identify, embeddings
#
# `run` reads: PY (the venv's python), SRC (the project folder), DATA (shared/data),
# INPUTS (enrol/ and probe/ photo folders, crops/), BUNDLES, TESTS (1 = run pytest),
# CLI (installed = the venv's edge-* commands, module = python -m edge.cli_*).
set -euo pipefail

install() {
    local venv=$1 wheels=$2
    shift 2
    python3 -m venv --system-site-packages "$venv"
    # The README's line, offline: the same resolution pip makes on a Pi, from the
    # aarch64 wheels the host downloaded.
    "$venv/bin/pip" install -q --no-index --find-links "$wheels" "$@"
    "$venv/bin/pip" install -q --no-index --find-links "$wheels" pytest pytest-timeout
}

cli() {  # cli enroll|identify ARGS...
    local command=$1
    shift
    if [[ $CLI == installed ]]; then
        "$(dirname "$PY")/edge-$command" "$@"
    else
        PYTHONPATH=$SRC "$PY" -m "edge.cli_$command" "$@"
    fi
}

run() {
    local out=$1 start bundle
    mkdir -p "$out"
    : > "$out/times.txt"
    "$PY" - > "$out/versions.json" <<'EOF'
import json, platform, cv2, numpy
from edge.litert import RUNTIME
from importlib.metadata import version
runtime = {"ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime",
           "tensorflow.lite": "tensorflow"}.get(RUNTIME)
print(json.dumps({"machine": platform.machine(), "python": platform.python_version(),
                  "runtime": RUNTIME, "runtime_version": runtime and version(runtime),
                  "numpy": numpy.__version__, "numpy_file": numpy.__file__,
                  "opencv": cv2.__version__}))
EOF
    if [[ ${TESTS:-0} == 1 ]]; then
        start=$SECONDS
        local status=0
        (cd "$SRC" && PYTHONPATH=$SRC/pi "$PY" -m pytest -p pytest_device -p no:cacheprovider \
            -q -rs --timeout 1200 tests) > "$out/pytest.log" 2>&1 || status=$?
        echo "$status" > "$out/pytest.status"
        echo "tests $((SECONDS - start))" >> "$out/times.txt"
        tail -n 3 "$out/pytest.log"
    fi
    for bundle in $BUNDLES; do
        start=$SECONDS
        rm -f "$out/$bundle.db"*
        cli enroll --from-dir "$INPUTS/enrol" --bundle "$bundle" --gallery "$out/$bundle.db" \
            > "$out/enrol-$bundle.log" 2>&1 || echo "enrol with $bundle failed: see $out/enrol-$bundle.log"
        cli identify --images "$INPUTS/probe" --json --bundle "$bundle" --gallery "$out/$bundle.db" \
            > "$out/identify-$bundle.jsonl" 2> "$out/identify-$bundle.log" \
            || echo "identify with $bundle failed: see $out/identify-$bundle.log"
        echo "enrol+identify-$bundle $((SECONDS - start))" >> "$out/times.txt"
    done
    start=$SECONDS
    local args=()
    for bundle in $BUNDLES; do args+=(--bundle "$bundle"); done
    PYTHONPATH=$SRC "$PY" "$SRC/pi/faces.py" embed "$INPUTS/crops" "$out/embeddings.npz" \
        --data "$DATA" "${args[@]}" > "$out/embed.log" 2>&1 || echo "embed failed: see $out/embed.log"
    echo "embed $((SECONDS - start))" >> "$out/times.txt"
}

"$@"
