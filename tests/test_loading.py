"""`vit1d.loading`: the one encoder loader (folders, random initialisations with one seeding rule), the one layer
selection rule, and the front-end check between a config and a feature extractor."""

import pytest
import torch

import vit1d
from vit1d.loading import check_front_end, layer_sets, load_encoder, random_encoder

TINY = dict(num_hidden_layers=2, hidden_size=32, intermediate_size=64, num_attention_heads=2)


def same_weights(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_one_seeding_rule_for_every_random_initialisation(tmp_path):
    config = vit1d.ViT1DConfig(**TINY)
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    first = random_encoder(config, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is left as it was
    assert same_weights(first, random_encoder(config, seed=3))
    assert not same_weights(first, random_encoder(config, seed=4))
    torch.manual_seed(3)  # the rule: manual_seed(seed), then the model (what a pretraining run builds at step 0)
    assert same_weights(first, vit1d.ViT1DModel(config))
    # A folder's config with new weights, the folder's weights, and the paper's config: all through load_encoder.
    first.save_pretrained(tmp_path)
    vit1d.ViT1DFeatureExtractor().save_pretrained(tmp_path)
    model, extractor, name = load_encoder(tmp_path, random_init=True, seed=3)
    assert same_weights(model, first) and not model.training and name == f"random-init ({tmp_path} config)"
    loaded, _, name = load_encoder(str(tmp_path))
    assert same_weights(loaded, first) and name == str(tmp_path) and not loaded.training
    paper, _, name = load_encoder(None, seed=0)
    assert paper.config.num_hidden_layers == 12 and name == "random-init (paper config)"
    with pytest.raises(ValueError, match="no model_name_or_path"):
        load_encoder(None, cache_dir="x")


def test_layer_sets():
    assert layer_sets("3;6;9;12;3,6,9,12", 12) == [(3,), (6,), (9,), (12,), (3, 6, 9, 12)]
    assert layer_sets("all", 2) == [(0,), (1,), (2,)] and layer_sets("last", 12) == [(12,)]
    with pytest.raises(ValueError, match="0..12"):
        layer_sets("13", 12)
    with pytest.raises(ValueError, match="'last', 'all'"):
        layer_sets("three", 12)


def test_a_config_and_an_extractor_that_disagree_are_refused_with_the_fix(tmp_path):
    config = vit1d.ViT1DConfig(**TINY)
    check_front_end(config, vit1d.ViT1DFeatureExtractor())
    with pytest.raises(ValueError, match="hop_length: config 512, feature extractor 256.*same folder"):
        check_front_end(config, vit1d.ViT1DFeatureExtractor(hop_length=256))
    vit1d.ViT1DModel(config).save_pretrained(tmp_path)
    vit1d.ViT1DFeatureExtractor(sampling_rate=22050).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="sampling_rate: config 16000, feature extractor 22050"):
        load_encoder(tmp_path)
