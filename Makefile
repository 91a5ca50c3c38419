# keras-embed developer commands. Every target sets up .venv itself on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BACKENDS := jax torch tensorflow
# Parallel workers per backend (pytest-xdist); `auto` is one per CPU core.
WORKERS ?= auto
PYTEST_ARGS ?= -q -n $(WORKERS) --durations=20

.PHONY: setup test demo bench clean

# uv resolves and downloads in parallel (seconds where pip takes minutes); pip is the
# fallback. uv ignores pip's configuration, so pip's local wheel folder is passed on.
# --compile-bytecode writes the .pyc files up front, as pip does: where the environment sets
# PYTHONDONTWRITEBYTECODE, every process would otherwise compile keras, JAX, PyTorch and
# TensorFlow from source on import (about 10 s each, and the suite starts dozens).
INSTALL = $(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) $(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS))
FALLBACK_INSTALL = $(PY) -m pip install -q

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q uv || true
	$(INSTALL) -e ".[jax,torch,tensorflow,plots,test]" || $(FALLBACK_INSTALL) -e ".[jax,torch,tensorflow,plots,test]"
	$(PY) -c "import keras, jax, torch, tensorflow, keras_embed"
	touch $@

setup: $(VENV)/.installed

# The whole suite once per backend, each spread over xdist workers (one backend at a
# time keeps memory to a few processes); fails if any backend fails.
test: setup
	@failed=""; \
	for backend in $(BACKENDS); do \
		echo "=== KERAS_BACKEND=$$backend"; \
		KERAS_BACKEND=$$backend $(PY) -m pytest $(PYTEST_ARGS) || failed="$$failed $$backend"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED on:$$failed"; exit 1; fi; \
	echo "passed on: $(BACKENDS)"

demo: setup
	KERAS_BACKEND=$${KERAS_BACKEND:-jax} $(PY) -m keras_embed demo

bench: setup
	$(INSTALL) -e ".[bench]" || $(FALLBACK_INSTALL) -e ".[bench]"
	$(INSTALL) --no-deps "keras-hub==0.32.*" || $(FALLBACK_INSTALL) --no-deps "keras-hub==0.32.*"
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info demo-output
