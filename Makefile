# Two entry points for a fresh machine with Python 3.11+ and make:
#   make run   sets up .venv and runs the default study
#   make test  sets up .venv and runs the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,onnx]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/dse run studies/yolov3-2mp-edge.toml

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV)
