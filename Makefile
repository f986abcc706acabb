# Set-up on a fresh machine is part of every target: each one creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU wheel of torch 2.13.0 is available locally; other versions pull GBs of CUDA packages.
TORCH_SPEC ?= torch==2.13.0

.PHONY: install demo evidence real-music reference pretrain embed explorer test test-fast bench clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.py Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev,analysis,corpus,export,explorer]"
	# The corpus synthesiser, without its pyaudio dependency (live playback only; it does not build everywhere).
	$(BIN)/python -m pip install -q --no-deps "tinysoundfont>=0.3"
	# The explorer's browser test drives Debian's headless chromium: installed here where apt is available.
	@{ command -v chromium && command -v chromedriver; } >/dev/null || { [ "$$(id -u)" = 0 ] && \
		command -v apt-get >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; } || \
		echo "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver, as root):" \
			"the explorer's browser test will fail until they are."
	touch $@

# The main job: render the built-in corpus, pretrain ViT-1D briefly, probe the four tasks for the trained and a
# random encoder, run the analyses and write outputs/demo/report plus an encoder folder with a filled model card.
# The released checkpoint committed in pretrained/ is probed beside them (RELEASED= leaves it out).
RELEASED ?= $(patsubst %/config.json,%,$(firstword $(wildcard pretrained/*/config.json)))
demo: install
	$(BIN)/python run_demo.py --output_dir outputs/demo $(if $(RELEASED),--released_model $(RELEASED))

# The longer run whose figures the README quotes: the demo's pipeline on a benchmark sized for the claims (1000
# pieces of 30 s; 450 test tracks, 75-112 per stratum), with FluidR3_GM beside TimGM6mb where it can be installed.
evidence: install
	@test -f /usr/share/sounds/sf2/FluidR3_GM.sf2 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get install -y -q fluid-soundfont-gm >/dev/null; } || \
		echo "FluidR3_GM is not installed (apt-get install fluid-soundfont-gm): rendering with TimGM6mb alone."
	$(BIN)/python run_demo.py --output_dir outputs/evidence --corpus_dir data/evidence_corpus \
		--corpus_pieces 1000 --corpus_split_fractions 0.4,0.15,0.45 --analysis_tracks 40

# A real-music pretraining corpus (manifests only; the audio stays where Debian installs it): four game-soundtrack
# packages, about 8 hours, installed with apt when run as root. Never commit the audio.
real-music: install
	$(BIN)/python -m vit1d.data.soundtracks --output_dir data/real_music

# Reference pretraining runs: one per seed of REFERENCE_SEEDS, REFERENCE_STEPS steps of REFERENCE_BATCH pairs on the
# soundtracks plus the train pieces of a 300-piece rendered corpus (its validation and test works stay out), an
# encoder kept every REFERENCE_EVERY steps, TensorBoard logs; then each run's learning curve, every point scored on
# that corpus's test split as the demo scores its encoder (claims with intervals, floors, attention onsets, SSMs).
# The random initialisations and the floors that do not depend on the model are probed once, for the first seed's
# first point, and shared (run_curves.py --baselines_from, run_probe.py --reuse_floors).
# Resumable: an interrupted run continues from its last checkpoint, scored points are reused. Last, the seeds are
# pooled (run_curves.py --across_runs: trained encoders vs random inits and their own step 0, at every shared step).
REFERENCE_SEEDS ?= 0 1 2
REFERENCE_STEPS ?= 1000
REFERENCE_EVERY ?= 500
REFERENCE_BATCH ?= 16
REFERENCE_LR ?= 5e-4
REFERENCE_ARGS ?=
# Points of each curve to score, comma-separated steps (e.g. 1000: the final encoders alone); empty: every kept one.
REFERENCE_SCORE_STEPS ?=
REFERENCE_DIR ?= outputs/reference
REFERENCE_CORPUS := --corpus_dir data/reference_corpus --corpus_pieces 300 --corpus_split_fractions 0.4,0.15,0.45
reference: install
	@test -f data/reference_corpus/corpus.json || $(BIN)/python -m vit1d.corpus.render --out data/reference_corpus \
		--pieces 300 --split_fractions 0.4,0.15,0.45 > /dev/null
	$(BIN)/python -m vit1d.data.soundtracks --output_dir data/real_music_reference \
		--rendered_corpus data/reference_corpus
	first=""; for seed in $(REFERENCE_SEEDS); do \
		$(BIN)/python run_pretraining.py --data data/real_music_reference --output_dir $(REFERENCE_DIR)/seed-$$seed \
			--seed $$seed --max_steps $(REFERENCE_STEPS) --per_device_train_batch_size $(REFERENCE_BATCH) \
			--learning_rate $(REFERENCE_LR) --warmup_steps $$(( $(REFERENCE_STEPS) / 10 )) \
			--save_steps $(REFERENCE_EVERY) --encoder_every_steps $(REFERENCE_EVERY) --logging_steps 10 \
			--report_to tensorboard --resume_from_checkpoint latest $(REFERENCE_ARGS) && \
		$(BIN)/python run_curves.py --run_dir $(REFERENCE_DIR)/seed-$$seed \
			--output_dir $(REFERENCE_DIR)/curves-seed-$$seed $(REFERENCE_CORPUS) --seed $$seed \
			--random_init_seeds 101,102,103 --probe_layers "3;6;9;12;3,6,9,12" --analysis_tracks 16 \
			$(if $(REFERENCE_SCORE_STEPS),--steps $(REFERENCE_SCORE_STEPS)) \
			$${first:+--baselines_from $(REFERENCE_DIR)/curves-seed-$$first} || exit 1; \
		first=$${first:-$$seed}; \
	done
	$(BIN)/python run_curves.py --output_dir $(REFERENCE_DIR)/seeds \
		--across_runs $(foreach seed,$(REFERENCE_SEEDS),$(REFERENCE_DIR)/curves-seed-$(seed))

# Only the short pretraining run of the demo (what `make demo` did before the probes and analyses existed).
pretrain: install
	$(BIN)/python run_pretraining.py --preset demo --output_dir outputs/pretraining

embed: install
	$(BIN)/python run_embedding.py --output_dir outputs/embedding

# The explorer page (app.py) on http://127.0.0.1:7860 with the released checkpoint.
explorer: install
	$(BIN)/python app.py

test: install
	$(BIN)/python -m pytest -q tests

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" tests

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) outputs data *.egg-info
