# One venv for the workstation side (train + convert + edge + tests).
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= ../shared/data
RUN ?= runs/demo

.PHONY: install test demo

$(VENV)/.installed: setup.cfg pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e ".[train,edge,pretrained,web,dev]"
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -q

demo: install
	$(PY) -m train.demo --data $(DATA) --out $(RUN) $(if $(PEOPLE),--people $(PEOPLE))
