# Set-up is part of every target: a fresh clone needs only Python 3.11.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU wheel of torch first, so the extras below do not pull a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[ml,sofa,test]'
	# The aisfx proxy metrics' weights; its own requirements pin numpy 1.23 and librosa, which
	# sonicmotion does not use (it computes the front end itself), hence --no-deps.
	$(PY) -m pip install -q --no-deps aisfx==0.1.2
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/sonicmotion demo --out demo-output

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/bench_spatial.py

clean-venv:
	rm -rf $(VENV)
