import numpy as np
import pytest
import torch

import vit1d
from vit1d.hub import AUTO_CLASSES
from vit1d.synthetic import synthetic_music


def tiny_config(**overrides):
    """A small ViT-1D for fast tests; the full-size model is tested where size matters."""
    values = dict(num_mel_bins=16, hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64)
    values.update(overrides)
    return vit1d.ViT1DConfig(**values)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def restore_auto_classes():
    """`register_for_auto_class` sets class attributes; undo them so tests do not leak into each other."""
    classes = [*AUTO_CLASSES.values(), vit1d.ViT1DFeatureExtractor]
    saved = {cls: cls.__dict__.get("_auto_class") for cls in classes}
    yield
    for cls, value in saved.items():
        if value is None and "_auto_class" in cls.__dict__:
            delattr(cls, "_auto_class")
        elif value is not None:
            cls._auto_class = value


music_like = synthetic_music  # a spectrally varied test signal


@pytest.fixture(autouse=True, scope="session")
def _no_system_soundfonts():
    """Tests render with pretty_midi's TimGM6mb alone, whatever SoundFonts this machine has installed (a default corpus
    also plays FluidR3_GM where it is installed): `$VIT1D_SOUNDFONT_DIRS` empty, for this process and the CLIs it
    starts; the tests of that choice point it at a folder of theirs."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VIT1D_SOUNDFONT_DIRS", "")
        yield
