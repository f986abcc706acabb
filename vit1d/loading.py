"""Loading a frozen encoder and choosing its layers: the one loader and the one layer-selection rule that embedding,
HEAR, probing, analysis and the demo share.

    model, extractor, name = load_encoder("pretrained/NAME")                 # a folder or Hub id
    model, extractor, name = load_encoder("pretrained/NAME", random_init=True, seed=3)   # its config, new weights
    model, extractor, name = load_encoder(None, seed=3)                      # the paper's config, new weights
    layer_sets("3;6;9;12;3,6,9,12", num_layers=12)   # [(3,), (6,), (9,), (12,), (3, 6, 9, 12)]
"""

import os

import torch

from .configuration_vit1d import ViT1DConfig
from .feature_extraction_vit1d import ViT1DFeatureExtractor
from .modeling_vit1d import ViT1DModel


def check_front_end(config: ViT1DConfig, extractor: ViT1DFeatureExtractor) -> None:
    """The feature extractor owns the front end (sampling rate, hop, mel bins); the config records the same values
    so that token times follow from it alone (`config.tokens_per_second`). Raise where the two disagree: the model
    would read frames of another rate or size than it was trained on, and every timestamp would be wrong."""
    pairs = {"sampling_rate": (config.sampling_rate, extractor.sampling_rate),
             "hop_length": (config.hop_length, extractor.hop_length),
             "mel bins (num_mel_bins / feature_size)": (config.num_mel_bins, extractor.feature_size)}
    differ = {name: values for name, values in pairs.items() if values[0] != values[1]}
    if differ:
        described = "; ".join(f"{name}: config {a}, feature extractor {b}" for name, (a, b) in differ.items())
        raise ValueError(f"The encoder's config and the feature extractor disagree ({described}): load both from the "
                         "same folder, or build the extractor from the config's values.")


def random_encoder(config: ViT1DConfig | None = None, seed: int = 0) -> ViT1DModel:
    """The one seeding rule of a random initialisation: `torch.manual_seed(seed)`, then `ViT1DModel(config)`. It is
    what `run_pretraining.py --seed N` builds at step 0 (so a random arm with the run's seed repeats its step-0
    weights), and it leaves the global RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ViT1DModel(config if config is not None else ViT1DConfig())


def load_encoder(
    model_name_or_path: str | os.PathLike | None = None,
    *,
    random_init: bool = False,
    seed: int = 0,
    config: ViT1DConfig | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
    **hub_kwargs,
) -> tuple[ViT1DModel, ViT1DFeatureExtractor, str]:
    """The frozen encoder (eval mode), its feature extractor and a name for results.

    `model_name_or_path` is a ViT-1D folder or Hub id (any ViT-1D head: the bare encoder is kept). With
    `random_init=True` only its config and extractor are read and the weights are drawn by `random_encoder(config,
    seed)`; without a model (`None` or `""`) the config is `config` or the paper's. `ViT1DModel` is used rather than
    `AutoModel`: with `trust_remote_code=True` AutoModel would build the folder's own copy of the class, and a folder
    saved from a head model must still give the bare encoder. `hub_kwargs` (`cache_dir`, `token`,
    `local_files_only`, ...) go to every `from_pretrained`.
    """
    if model_name_or_path is None or os.fspath(model_name_or_path) == "":
        if hub_kwargs or revision is not None:
            raise ValueError(f"load_encoder got Hub options {sorted(hub_kwargs) + ['revision'] * bool(revision)} "
                             "but no model_name_or_path to load.")
        name = "random-init (paper config)" if config is None else "random-init (given config)"
        return random_encoder(config, seed).eval(), ViT1DFeatureExtractor(), name
    path = os.fspath(model_name_or_path)
    hub = dict(revision=revision, **hub_kwargs)
    extractor = ViT1DFeatureExtractor.from_pretrained(path, **hub)
    if random_init:
        config = ViT1DConfig.from_pretrained(path, trust_remote_code=trust_remote_code, **hub)
        check_front_end(config, extractor)
        return random_encoder(config, seed).eval(), extractor, f"random-init ({path} config)"
    model = ViT1DModel.from_pretrained(path, trust_remote_code=trust_remote_code, **hub)
    check_front_end(model.config, extractor)
    return model.eval(), extractor, path


def layer_sets(value: str, num_layers: int) -> list[tuple[int, ...]]:
    """The layer sets to read, one result row each: 'last' -> [(L,)], '6' -> [(6,)], '3,6,9,12' -> [(3, 6, 9, 12)]
    (stacked), 'all' -> one set per hidden state 0..L (0 is the embeddings, L the last layer before the final
    LayerNorm); sets separated by ';' are read in turn ('last;3,6,9,12')."""
    if ";" in value:
        return [layers for part in value.split(";") if part.strip() for layers in layer_sets(part.strip(), num_layers)]
    value = value.strip()
    if value == "all":
        return [(layer,) for layer in range(num_layers + 1)]
    if value == "last":
        return [(num_layers,)]
    try:
        layers = tuple(int(part) for part in value.split(","))
    except ValueError:
        raise ValueError(f"Layers are 'last', 'all', N or N,M,... (';' between sets), got {value!r}.") from None
    if not all(0 <= layer <= num_layers for layer in layers):
        raise ValueError(f"--layers must lie in 0..{num_layers}, got {value!r}.")
    return [layers]


__all__ = ["check_front_end", "layer_sets", "load_encoder", "random_encoder"]
