# The README's two commands: `make run` and `make test`. Both build the venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5006
ADDRESS ?= 127.0.0.1
# TORCH=cuda: the CUDA build of the same torch (it brings triton) from PyTorch's wheel index
# TORCH_INDEX (pick the one for your driver); the default is the CPU wheel. To switch an
# existing venv: make clean venv TORCH=cuda
TORCH ?= cpu
TORCH_INDEX ?= https://download.pytorch.org/whl/cu128
TORCH_FROM_cpu :=
TORCH_FROM_cuda := --index-url $(TORCH_INDEX)

.PHONY: run test docs venv chromium clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: the CPU wheel on disk, never an unpinned CUDA build
	$(if $(filter cpu cuda,$(TORCH)),,$(error TORCH must be cpu or cuda, got '$(TORCH)'))
	$(BIN)/pip install --quiet torch==2.13.0 $(TORCH_FROM_$(TORCH))
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: venv
	$(BIN)/roma serve --address $(ADDRESS) --port $(PORT)

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: venv chromium
	$(BIN)/python -m pytest

docs: venv
	# the HTML documentation (offline, warnings are errors): docs/_build/html/index.html
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) .pytest_cache
