# Two commands: `make run` and `make test`. Everything else is a helper they call.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv system-deps demo-model bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[train,test]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/python demo_app.py

# Debian packages the real-part tests need: Chromium for the dashboard, GStreamer's RTSP server.
system-deps:
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  ./scripts/install-system-deps.sh; \
	else echo "system-deps: not root or no apt-get; browser/RTSP tests will skip"; fi

test: $(STAMP)
	$(BIN)/python -m pytest

demo-model: $(STAMP)
	$(BIN)/python -m training demo-model --out models/demo

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info
