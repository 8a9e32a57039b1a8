#!/usr/bin/env bash
# Edge-only CI: the device runtime and the gallery, tested as a Raspberry Pi has them,
# in venvs WITHOUT TensorFlow, Keras, mtcnn or the train extra. Two set-ups:
#   litert : pip install -e ".[edge,dev]"  (ai-edge-litert, numpy 2, current OpenCV)
#   tflite : tflite-runtime 2.14 (the older Pi runtime; its wheels need numpy < 2) with
#            numpy < 2 and OpenCV < 4.12 (the last wheels built for numpy 1.x)
# Each venv lives in .venv-edge-<name>/ and is rebuilt only when setup.cfg, pyproject.toml
# or its pip arguments change. Runs the tests marked `edge` and the TensorFlow-free
# gallery, alignment and metrics tests in each (the gallery's SIGKILL reliability battery,
# about SQLite rather than these packages, runs once, in make test).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
EDGE_TESTS=(tests/test_bundle.py tests/test_edge_enroll.py tests/test_edge_identify.py
            tests/test_sources.py tests/test_edge_only.py)
TF_FREE_TESTS=(tests/test_gallery_archive.py tests/test_gallery_cli.py tests/test_gallery_match.py
               tests/test_gallery_store.py tests/test_align.py tests/test_metrics.py)

build() {  # build NAME PIP-ARGS...: the venv .venv-edge-NAME, unless already current
    local venv=.venv-edge-$1
    shift
    local stamp
    stamp="$venv/.installed-$( (cat setup.cfg pyproject.toml; echo "$*") | sha256sum | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        echo "edge-only: building $venv" >&2
        rm -rf "$venv"
        "$PYTHON" -m venv "$venv"
        "$venv/bin/pip" install -q --upgrade pip
        "$venv/bin/pip" install -q "$@"
        touch "$stamp"
    fi
}

check() {  # check NAME RUNTIME: no TensorFlow to be found, and the expected interpreter
    .venv-edge-$1/bin/python - "$2" <<'EOF'
import importlib.util
import sys

present = [m for m in ("tensorflow", "keras", "tf_keras", "mtcnn") if importlib.util.find_spec(m)]
if present:
    sys.exit(f"edge-only venv must not have {', '.join(present)}")
from edge.litert import RUNTIME
import numpy, cv2
if RUNTIME != sys.argv[1]:
    sys.exit(f"edge-only venv uses {RUNTIME}, expected {sys.argv[1]}")
print(f"edge-only: {RUNTIME}, numpy {numpy.__version__}, opencv {cv2.__version__}, "
      "no tensorflow/keras/mtcnn", file=sys.stderr)
EOF
}

run() {  # run NAME: the edge tests, then the TensorFlow-free ones
    local py=.venv-edge-$1/bin/python
    "$py" -m pytest -q -p no:cacheprovider -m edge "${EDGE_TESTS[@]}"
    "$py" -m pytest -q -p no:cacheprovider "${TF_FREE_TESTS[@]}"
}

build litert -e ".[edge,dev]"
build tflite -e ".[dev]" "numpy<2" tflite-runtime "opencv-python-headless<4.12"
check litert ai_edge_litert
check tflite tflite_runtime
run litert
run tflite
