from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="vit1d",
    version="0.1.0",
    description="ViT-1D music transformer (Kong et al., ISMIR 2025) as a Hugging Face Transformers model",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=find_packages(include=["vit1d", "vit1d.*"]),
    # The model-card template (the repository's model_card.md links to it).
    package_data={"vit1d": ["model_card.md"]},
    python_requires=">=3.10",
    install_requires=[
        # torch is not pinned here: install the build for your hardware first (the README's commands do).
        "torch>=2.4",
        # Tested on 5.0.0 and 5.23.0; the remote-code files use only transformers' public API.
        "transformers>=5.0,<6",
        "huggingface_hub>=1.0",
        "safetensors>=0.4",
        "numpy>=1.24",
        "soundfile>=0.12",
        "soxr>=0.3",
        "datasets>=3",
        # Pretraining: run_pretraining.py is an Accelerate loop; its config file may be YAML.
        "accelerate>=1.0",
        "pyyaml>=6",
        "tqdm>=4.60",
        # Linear probing (vit1d.probing): mir_eval scores key, beat and chord; scipy picks beat peaks; scikit-learn
        # computes tagging mAP / ROC-AUC; evaluate runs the metric scripts under metrics/ (tested: evaluate 0.4.6
        # with datasets 5.2).
        "mir_eval>=0.8",
        # The classical floors of the probe tables (vit1d.probing.baselines): librosa's tempo-regular beat decoder
        # (beat_track on any activation), chroma for chord templates and Krumhansl key profiles.
        "librosa>=0.10",
        "scipy>=1.10",
        "scikit-learn>=1.2",
        "evaluate>=0.4",
    ],
    extras_require={
        # selenium drives Debian's chromium in the explorer's browser test.
        "dev": ["pytest>=8", "tensorboard>=2.10", "matplotlib>=3.6", "selenium>=4.11"],
        # Rendering the built-in benchmark corpus (vit1d.corpus): music21 holds the Bach chorales and fiddle tunes,
        # pretty_midi's wheel ships the default General MIDI SoundFont (TimGM6mb.sf2). The synthesiser,
        # tinysoundfont, must be installed with `pip install --no-deps tinysoundfont` (the Makefile does): it
        # declares pyaudio, which does not build everywhere and is only needed for live playback.
        "corpus": ["music21>=9", "pretty_midi>=0.2.10"],
        # Figures of vit1d.analysis (attention maps, onset curves, SSMs, probe curves) and of the demo report.
        "analysis": ["matplotlib>=3.6"],
        # ONNX export of the whole path with the mel front end (vit1d.export, run_export.py) and onnxruntime inference.
        "export": ["onnx>=1.16", "onnxscript>=0.3", "onnxruntime>=1.18"],
        # The explorer (app.py, vit1d.explorer): a Gradio page of the analyses.
        "explorer": ["gradio>=5", "matplotlib>=3.6"],
        # Optional experiment trackers for run_pretraining.py (`--report_to tensorboard`).
        "tensorboard": ["tensorboard>=2.10"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Sound/Audio :: Analysis",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
