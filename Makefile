# make test: set up .venv (CPU torch, pinned) and run the suite. make demo: set up and run the main job.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH := torch==2.13.0

.PHONY: test demo venv bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -m pip install -q $(TORCH) 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -m pip install -q -e ".[test]" $(TORCH) 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -c "import othello, torch, transformer_lens, numba, h5py" 
	touch $@

venv: $(VENV)/.installed

test: venv
	$(PY) -m pytest -q

demo: venv
	$(VENV)/bin/othello-gpt generate --games 100000 --seed 0 --out data/synthetic-demo.h5
	$(VENV)/bin/othello-gpt info data/synthetic-demo.h5
	$(VENV)/bin/othello-gpt perft 9

bench: venv
	$(PY) benchmarks/engine.py

clean:
	rm -rf $(VENV) .pytest_cache
