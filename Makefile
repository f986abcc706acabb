# Set-up on a fresh machine is part of every target: each one creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU wheel of torch 2.13.0 is available locally; other versions pull GBs of CUDA packages.
TORCH_SPEC ?= torch==2.13.0

.PHONY: install demo pretrain embed test test-fast bench clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.py Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev,analysis,corpus]"
	# The corpus synthesiser, without its pyaudio dependency (live playback only; it does not build everywhere).
	$(BIN)/python -m pip install -q --no-deps "tinysoundfont>=0.3"
	touch $@

# The main job: render the built-in corpus, pretrain ViT-1D briefly, probe the four tasks for the trained and a
# random encoder, run the analyses and write outputs/demo/report plus an encoder folder with a filled model card.
demo: install
	$(BIN)/python run_demo.py --output_dir outputs/demo

# Only the short pretraining run of the demo (what `make demo` did before the probes and analyses existed).
pretrain: install
	$(BIN)/python run_pretraining.py --output_dir outputs/pretraining

embed: install
	$(BIN)/python run_embedding.py --output_dir outputs/embedding

test: install
	$(BIN)/python -m pytest -q tests

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" tests

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) outputs data *.egg-info
