# Two commands for users: `make run` (the dashboard on the bundled demo model) and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint venv dev demo-model bench bench-quick system-deps clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Runtime only: numpy, opencv-python, onnxruntime-gpu, gradio (no TensorFlow).
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# Everything: training/export (tensorflow, tf2onnx, onnx, ...) and the test tools.
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[train,test,ray]'
	touch $@ $(RUN_STAMP)

venv: $(RUN_STAMP)
dev: $(DEV_STAMP)

run: $(RUN_STAMP)
	$(BIN)/python demo_app.py $(ARGS)

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff: lint and format check over every tracked Python file (config in pyproject.toml).
lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo-model: $(DEV_STAMP)
	$(BIN)/python -m training demo-model --out models/demo

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

bench-quick: $(DEV_STAMP)
	$(BIN)/python -m bench --quick

# Debian packages the real-part tests use (Chromium, GStreamer's RTSP server, ffmpeg); needs root.
system-deps:
	bash scripts/install-system-deps.sh

clean:
	rm -rf $(VENV) build *.egg-info
