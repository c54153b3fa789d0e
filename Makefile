# make test: set up .venv (CPU torch, pinned; TransformerLens 4.x) and .venv-tl3 (TransformerLens 3.9), check the
# code with ruff (make lint), run the suite and the library's doctests in the first and the model-facing tests in
# the second (with sae-lens beside TransformerLens 3.9: the SAE round trip; circuit-tracer's loader reading our
# transcoders), then build the docs (make docs).
# make test-fast: the quick tier for your own loop: lint and the suite without the tests marked slow, in .venv only.
# make demo: set up, then run the whole experiment on the shipped model (othello-gpt demo: evaluate, probe,
# intervene, draw, write runs/demo/report.html), with the WTHOR games of $(WTHOR) when that folder holds them.
PYTHON ?= python3
TORCH := torch==2.13.0
QUIET := 2>&1 | grep -v "^WARNING: Location" || true
TL4 := "transformer_lens>=4.3,<5"
TL3 := "transformer_lens==3.9.0"
SAE_LENS := "sae-lens==6.54.12"
# circuit-tracer's loader reads our exported transcoders in a test; without its dependencies (nnsight, a pinned
# transformers) that the loader does not use and that would pull in a second model stack
CIRCUIT_TRACER := "circuit-tracer==0.5.0"
MODEL_TESTS := tests/test_model.py tests/test_convert.py tests/test_training.py tests/test_activations.py tests/test_targets.py tests/test_probes.py tests/test_layers.py tests/test_interventions.py tests/test_circuits.py

comma := ,

.PHONY: test test-fast lint docs demo venv bench clean

# $(call install,VENV,EXTRAS,EXTRA-REQUIREMENTS)
define install
	test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install -q --upgrade pip $(QUIET)
	$(1)/bin/python -m pip install -q $(TORCH) $(QUIET)
	$(1)/bin/python -m pip install -q -e ".[$(2)]" $(TORCH) $(3) $(QUIET)
	$(1)/bin/python -c "import othello, torch, transformer_lens, numba, h5py; print('$(1): transformer_lens', transformer_lens.__version__ if hasattr(transformer_lens, '__version__') else '')"
	touch $(1)/.installed
endef

.venv/.installed: pyproject.toml
	$(call install,.venv,test$(comma)docs,$(TL4))

.venv-tl3/.installed: pyproject.toml Makefile
	$(call install,.venv-tl3,test,$(TL3) $(SAE_LENS))
	.venv-tl3/bin/python -m pip install -q --no-deps $(CIRCUIT_TRACER) $(QUIET)

venv: .venv/.installed

lint: .venv/.installed
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

test: .venv/.installed .venv-tl3/.installed lint
	.venv/bin/python -m pytest -q
	.venv-tl3/bin/python -m pytest -q $(MODEL_TESTS)
	.venv-tl3/bin/python -m pytest -q tests/test_sae.py -k sae_lens
	.venv-tl3/bin/python -m pytest -q tests/test_transcoders.py tests/test_graph.py -k circuit_tracer
	$(MAKE) docs

test-fast: .venv/.installed lint
	.venv/bin/python -m pytest -q -m "not slow"

# the docs site, into site/ (--strict: a broken link or reference fails); the tutorial page is the notebook as the
# test suite last executed it (docs/tutorial.ipynb, with its outputs), else the notebook without outputs
docs: .venv/.installed
	test -f docs/tutorial.ipynb || cp notebooks/tutorial.ipynb docs/tutorial.ipynb
	NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict

WTHOR ?= ../shared/data/wthor

demo: venv
	.venv/bin/othello-gpt demo $(if $(wildcard $(WTHOR)/*.wtb),--wthor $(WTHOR))

bench: venv
	.venv/bin/python benchmarks/engine.py
	.venv/bin/python benchmarks/training.py
	.venv/bin/python benchmarks/probe_speed.py

clean:
	rm -rf .venv .venv-tl3 .pytest_cache site docs/tutorial.ipynb
