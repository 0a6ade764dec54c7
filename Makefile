# The README's two commands: `make chat` and `make test`. Each sets up .venv itself.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 7860
export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
export GRADIO_ANALYTICS_ENABLED=False

.PHONY: chat test lint format bench eval install clean

# torch goes in first, pinned: any other torch spec pulls a multi-GB CUDA build.
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test,local-llm]'
	touch $@

install: $(BIN)/.installed

chat: install
	$(BIN)/episode-assistant ingest
	$(BIN)/episode-assistant serve --host $(HOST) --port $(PORT)

test: install lint
	$(BIN)/python -m pytest -ra $(PYTEST_ARGS)

# style is checked, not negotiated: `make format` fixes what `make lint` reports
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

eval: install
	$(BIN)/episode-assistant eval --retriever all --report out/eval

bench: install
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .episode-assistant out .pytest_cache
