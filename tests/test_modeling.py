import copy
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_config
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForAudioClassification,
    AutoModelForAudioFrameClassification,
    AutoModelForPreTraining,
)

import vit1d
from vit1d.modeling_vit1d import nt_xent_loss, sincos_position_embedding

PAPER_PARAMETERS = 5_363_712  # 12 x 444,864 (layers) + 24,768 (frame projection) + 192 (class token) + 384 (LN)


def test_default_config_is_the_papers_model():
    config = vit1d.ViT1DConfig()
    assert (config.num_mel_bins, config.hidden_size, config.num_hidden_layers) == (128, 192, 12)
    assert (config.num_attention_heads, config.intermediate_size, config.hidden_act) == (3, 768, "gelu")
    assert config.class_token_type == "learnable_plus_mean" and config.position_embedding_type == "sincos_2d"
    assert config.projection_dim is None and config.nt_xent_temperature == 0.1
    assert config.tokens_per_second == 31.25
    model = vit1d.ViT1DModel(config)
    assert sum(p.numel() for p in model.parameters()) == PAPER_PARAMETERS
    assert model.config._attn_implementation == "sdpa"


@pytest.mark.parametrize(
    "bad", [dict(pooling="max"), dict(position_embedding_type="rope"), dict(class_token_type="none"),
            dict(hidden_size=30, num_attention_heads=4), dict(frames_per_patch=0), dict(nt_xent_temperature=0.0),
            dict(problem_type="multilabel"), dict(frame_normalization="batch_norm"), dict(patch_activation="swoosh")]
)
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        tiny_config(**bad)


def test_output_shapes_and_attention_rows_sum_to_one():
    model = vit1d.ViT1DModel(vit1d.ViT1DConfig()).eval()
    x = torch.randn(2, 126, 128)
    out = model(x, output_hidden_states=True, output_attentions=True)
    assert out.last_hidden_state.shape == (2, 127, 192)
    assert out.pooler_output.shape == (2, 192)
    assert len(out.hidden_states) == 13 and all(h.shape == (2, 127, 192) for h in out.hidden_states)
    assert len(out.attentions) == 12 and all(a.shape == (2, 3, 127, 127) for a in out.attentions)
    for attention in out.attentions:
        torch.testing.assert_close(attention.sum(-1), torch.ones(2, 3, 127), atol=1e-5, rtol=0)
    # hidden_states[-1] is the last layer before the final LayerNorm; last_hidden_state is after it.
    torch.testing.assert_close(model.layernorm(out.hidden_states[-1]), out.last_hidden_state)
    plain = model(x)
    assert plain.hidden_states is None and plain.attentions is None
    as_tuple = model(x, return_dict=False)
    torch.testing.assert_close(as_tuple[0], out.last_hidden_state)
    head = vit1d.ViT1DForAudioClassification(vit1d.ViT1DConfig(num_labels=2)).eval()
    loss, logits, hidden_states = head(x, labels=torch.tensor([0, 1]), output_hidden_states=True, return_dict=False)
    assert loss.ndim == 0 and logits.shape == (2, 2) and len(hidden_states) == 13


@pytest.mark.parametrize("num_frames", [1, 7, 126, 1000])
def test_any_number_of_frames(num_frames):
    model = vit1d.ViT1DModel(tiny_config()).eval()
    out = model(torch.randn(1, num_frames, 16))
    assert out.last_hidden_state.shape == (1, 1 + num_frames, 32)
    assert torch.isfinite(out.last_hidden_state).all()


def test_frames_per_patch_groups_frames():
    model = vit1d.ViT1DModel(tiny_config(frames_per_patch=4)).eval()
    out = model(torch.randn(2, 10, 16))
    assert out.last_hidden_state.shape == (2, 1 + 3, 32)  # ceil(10 / 4) tokens
    assert model.config.tokens_per_second == 31.25 / 4


def test_eager_and_sdpa_agree():
    config = tiny_config(num_mel_bins=128, hidden_size=192, num_attention_heads=3, intermediate_size=768)
    sdpa = vit1d.ViT1DModel(config).eval()
    eager = vit1d.ViT1DModel(copy.deepcopy(config)).eval()
    eager.load_state_dict(sdpa.state_dict())
    eager.set_attn_implementation("eager")
    assert eager.config._attn_implementation == "eager" and sdpa.config._attn_implementation == "sdpa"
    x = torch.randn(3, 126, 128)
    mask = torch.ones(3, 126, dtype=torch.long)
    mask[1, 90:] = 0
    mask[2, 40:] = 0
    for attention_mask in (None, mask):
        a = sdpa(x, attention_mask=attention_mask, output_hidden_states=True)
        b = eager(x, attention_mask=attention_mask, output_hidden_states=True)
        torch.testing.assert_close(a.last_hidden_state, b.last_hidden_state, atol=1e-5, rtol=0)
        for ha, hb in zip(a.hidden_states, b.hidden_states):
            torch.testing.assert_close(ha, hb, atol=1e-5, rtol=0)


def test_output_attentions_under_sdpa_returns_the_eager_maps():
    config = tiny_config()
    model = vit1d.ViT1DModel(config).eval()
    x = torch.randn(2, 50, 16)
    mask = torch.ones(2, 50, dtype=torch.long)
    mask[1, 30:] = 0
    with_maps = model(x, attention_mask=mask, output_attentions=True)
    without = model(x, attention_mask=mask)
    assert model.config._attn_implementation == "sdpa"
    torch.testing.assert_close(with_maps.last_hidden_state, without.last_hidden_state, atol=1e-5, rtol=0)
    eager = vit1d.ViT1DModel(copy.deepcopy(config)).eval()
    eager.load_state_dict(model.state_dict())
    eager.set_attn_implementation("eager")
    reference = eager(x, attention_mask=mask, output_attentions=True)
    for got, want in zip(with_maps.attentions, reference.attentions):
        torch.testing.assert_close(got, want)
        assert not torch.allclose(got, torch.full_like(got, 1 / 51))  # real maps, not uniform placeholders
    # Padded keys get no attention at all.
    assert with_maps.attentions[0][1, :, :, 31:].abs().max() == 0


@pytest.mark.parametrize("pooling", ["cls", "mean", "cls_and_mean"])
@pytest.mark.parametrize("frames_per_patch", [1, 3])
@pytest.mark.parametrize("position_embedding_type", ["sincos_2d", "learned"])
def test_padded_batch_equals_each_item_alone(pooling, frames_per_patch, position_embedding_type):
    config = tiny_config(
        pooling=pooling, frames_per_patch=frames_per_patch, position_embedding_type=position_embedding_type
    )
    model = vit1d.ViT1DModel(config).eval()
    lengths = [40, 23, 7]
    items = [torch.randn(1, n, 16) for n in lengths]
    batch = torch.full((3, 40, 16), -100.0)  # the feature extractor's padding value
    mask = torch.zeros(3, 40, dtype=torch.long)
    for i, item in enumerate(items):
        batch[i, : lengths[i]] = item[0]
        mask[i, : lengths[i]] = 1
    out = model(batch, attention_mask=mask, output_hidden_states=True, output_attentions=True)
    for i, item in enumerate(items):
        alone = model(item, output_hidden_states=True, output_attentions=True)
        n = 1 + math.ceil(lengths[i] / frames_per_patch)
        torch.testing.assert_close(out.last_hidden_state[i, :n], alone.last_hidden_state[0], atol=1e-5, rtol=0)
        torch.testing.assert_close(out.pooler_output[i], alone.pooler_output[0], atol=1e-5, rtol=0)
        for hb, ha in zip(out.hidden_states, alone.hidden_states):
            torch.testing.assert_close(hb[i, :n], ha[0], atol=1e-5, rtol=0)
        for ab, aa in zip(out.attentions, alone.attentions):
            torch.testing.assert_close(ab[i, :, :n, :n], aa[0], atol=1e-5, rtol=0)


def test_class_token_is_learnable_vector_plus_mean_of_projected_frames():
    model = vit1d.ViT1DModel(vit1d.ViT1DConfig()).eval()
    x = torch.randn(1, 126, 128)
    delta = torch.zeros_like(x)
    delta[0, 17] = torch.randn(128)
    before = model(x, output_hidden_states=True).hidden_states[0][0, 0]
    after = model(x + delta, output_hidden_states=True).hidden_states[0][0, 0]
    weight = model.embeddings.patch_embeddings.projection.weight
    expected = weight @ delta[0, 17] / 126
    torch.testing.assert_close(after - before, expected, atol=1e-5, rtol=1e-4)
    # And the class token itself: learnable vector + mean of the projections.
    projected = model.embeddings.patch_embeddings(x)
    torch.testing.assert_close(before, model.embeddings.cls_token[0, 0] + projected[0].mean(0), atol=1e-5, rtol=0)


def test_plain_learnable_class_token_ignores_the_frames():
    model = vit1d.ViT1DModel(tiny_config(class_token_type="learnable")).eval()
    a = model(torch.randn(1, 20, 16), output_hidden_states=True).hidden_states[0][0, 0]
    b = model(torch.randn(1, 20, 16), output_hidden_states=True).hidden_states[0][0, 0]
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, model.embeddings.cls_token[0, 0])


def test_frame_normalisation_removes_each_frames_level_and_the_bare_projection_keeps_it():
    x = torch.randn(2, 20, 16) * 20 - 30  # dB-like values
    level = torch.linspace(-20, 20, 20).view(1, 20, 1)  # a different gain (dB) on every frame
    normalised = vit1d.ViT1DModel(tiny_config(frame_normalization="layer_norm", patch_activation="gelu")).eval()
    bare = vit1d.ViT1DModel(tiny_config()).eval()
    assert bare.embeddings.patch_embeddings.frame_norm is None and bare.embeddings.patch_embeddings.activation is None
    with torch.no_grad():
        out = normalised(x).last_hidden_state
        assert out.shape == (2, 21, 32)
        torch.testing.assert_close(normalised(x + level).last_hidden_state, out, atol=1e-4, rtol=0)
        assert not torch.allclose(bare(x + level).last_hidden_state, bare(x).last_hidden_state, atol=1e-2)
        # MT2's order: act(linear(norm(frame))).
        patch = normalised.embeddings.patch_embeddings
        expected = torch.nn.functional.gelu(patch.projection(torch.nn.functional.layer_norm(x, (16,), eps=1e-6)))
        torch.testing.assert_close(patch(x), expected)


def test_sincos_position_embeddings():
    table_2d = sincos_position_embedding(300, 192, two_d=True)
    assert table_2d.shape == (300, 192)
    # Second half: frequency index 0 for every token (sin 0 = 0, cos 0 = 1).
    torch.testing.assert_close(table_2d[:, 96:144], torch.zeros(300, 48))
    torch.testing.assert_close(table_2d[:, 144:], torch.ones(300, 48))
    # First half: time index t -> sin(t * omega_i), cos(t * omega_i), omega_i = 10000^(-i / 48).
    t, i = 37, 5
    assert table_2d[t, i].item() == pytest.approx(math.sin(t * 10000 ** (-i / 48)), abs=1e-6)
    assert table_2d[t, 48 + i].item() == pytest.approx(math.cos(t * 10000 ** (-i / 48)), abs=1e-6)
    table_1d = sincos_position_embedding(300, 192, two_d=False)
    assert table_1d[t, i].item() == pytest.approx(math.sin(t * 10000 ** (-i / 96)), abs=1e-6)
    assert len({tuple(row.tolist()) for row in table_1d}) == 300  # every position is distinct


def test_learned_positions_refuse_inputs_longer_than_the_table():
    model = vit1d.ViT1DModel(tiny_config(position_embedding_type="learned", max_frames=50)).eval()
    assert model(torch.randn(1, 50, 16)).last_hidden_state.shape == (1, 51, 32)
    with pytest.raises(ValueError, match="max_frames=50"):
        model(torch.randn(1, 51, 16))


def test_bad_input_shapes_raise_clear_errors():
    model = vit1d.ViT1DModel(tiny_config()).eval()
    with pytest.raises(ValueError, match=r"input_values\[None\]"):
        model(torch.randn(20, 16))
    with pytest.raises(ValueError, match="ViT1DFeatureExtractor"):
        model(torch.randn(1, 16, 20))
    with pytest.raises(ValueError, match="the mask the feature extractor returned"):
        model(torch.randn(2, 20, 16), attention_mask=torch.ones(2, 19, dtype=torch.long))
    with pytest.raises(ValueError, match="0 frames"):
        model(torch.randn(1, 0, 16))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_model_takes_the_extractors_float32_features(tmp_path, dtype):
    config = vit1d.ViT1DConfig(num_hidden_layers=2)
    vit1d.ViT1DModel(config).save_pretrained(tmp_path)
    reference = vit1d.ViT1DModel.from_pretrained(tmp_path).eval()
    model = AutoModel.from_pretrained(tmp_path, dtype=dtype).eval()
    assert next(model.parameters()).dtype == dtype
    x = torch.randn(2, 40, 128) * 20 - 40  # dB-like float32 features, as the extractor returns them
    with torch.no_grad():
        half, full = model(x).pooler_output, reference(x).pooler_output
    assert half.dtype == dtype
    assert F.cosine_similarity(half.float(), full, dim=-1).min() > 0.99


def test_attention_implementation_setters_and_input_embeddings():
    model = vit1d.ViT1DModel(tiny_config())
    model.set_attn_implementation({"": "eager"})  # transformers' per-config form
    assert model.config._attn_implementation == "eager"
    model.set_attn_implementation("sdpa")
    assert model.config._attn_implementation == "sdpa"
    # Through transformers' attention interface: its own error for an implementation ViT-1D does not declare.
    with pytest.raises((ValueError, ImportError), match="flash|Flash"):
        model.set_attn_implementation("flash_attention_2")
    assert model.config._attn_implementation == "sdpa"
    replacement = vit1d.modeling_vit1d.ViT1DPatchEmbeddings(tiny_config())
    model.set_input_embeddings(replacement)
    assert model.get_input_embeddings() is replacement


@pytest.mark.parametrize(
    "model_class", [vit1d.ViT1DModel, vit1d.ViT1DForAudioClassification, vit1d.ViT1DForAudioFrameClassification,
                    vit1d.ViT1DForContrastivePretraining]
)
def test_save_and_from_pretrained_round_trip_every_parameter(tmp_path, model_class):
    config = tiny_config(num_labels=5, projection_dim=8, position_embedding_type="learned", max_frames=64)
    model = model_class(config)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    loaded = model_class.from_pretrained(tmp_path)
    state, loaded_state = model.state_dict(), loaded.state_dict()
    assert state.keys() == loaded_state.keys()
    for key in state:
        assert torch.equal(state[key], loaded_state[key]), key
    assert loaded.config.to_diff_dict() | {"_name_or_path": ""} == model.config.to_diff_dict() | {"_name_or_path": ""}
    assert loaded.config.projection_dim == 8 and loaded.config.nt_xent_temperature == 0.1


def test_auto_classes_resolve_to_vit1d(tmp_path):
    assert isinstance(AutoConfig.for_model("vit1d"), vit1d.ViT1DConfig)
    encoder = vit1d.ViT1DModel(tiny_config())
    encoder.save_pretrained(tmp_path)
    assert type(AutoModel.from_pretrained(tmp_path)) is vit1d.ViT1DModel
    assert type(AutoModelForPreTraining.from_pretrained(tmp_path)) is vit1d.ViT1DForContrastivePretraining
    head = AutoModelForAudioClassification.from_pretrained(tmp_path, num_labels=4)
    assert type(head) is vit1d.ViT1DForAudioClassification and head.classifier.out_features == 4
    # The encoder weights carry over into the head model; only the classifier is new.
    for key, value in encoder.state_dict().items():
        assert torch.equal(head.vit1d.state_dict()[key], value)
    frame_head = AutoModelForAudioFrameClassification.from_pretrained(tmp_path, num_labels=3)
    assert type(frame_head) is vit1d.ViT1DForAudioFrameClassification


def test_gradient_checkpointing_gives_the_same_gradients():
    config = tiny_config(num_labels=3)
    model = vit1d.ViT1DForAudioClassification(config).train()
    x, labels = torch.randn(4, 30, 16), torch.tensor([0, 1, 2, 1])
    model(x, labels=labels).loss.backward()
    reference = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    # `gradient_checkpointing_enable` was renamed in transformers 5.x.
    (getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable)()
    # Per layer, as transformers' GradientCheckpointingLayer does it.
    assert all(layer.gradient_checkpointing for layer in model.vit1d.encoder.layer)
    model(x, labels=labels).loss.backward()
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, reference[name], atol=1e-6, rtol=1e-5)


def test_audio_classification_losses():
    x = torch.randn(4, 30, 16)
    single = vit1d.ViT1DForAudioClassification(tiny_config(num_labels=3)).eval()
    labels = torch.tensor([0, 2, 1, 1])
    out = single(x, labels=labels)
    assert out.logits.shape == (4, 3)
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, labels))

    multi = vit1d.ViT1DForAudioClassification(
        tiny_config(num_labels=3, problem_type="multi_label_classification")
    ).eval()
    targets = torch.tensor([[1, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0]], dtype=torch.float)
    out = multi(x, labels=targets)
    torch.testing.assert_close(out.loss, F.binary_cross_entropy_with_logits(out.logits, targets))
    out.loss.backward()
    assert multi.classifier.weight.grad is not None


def test_audio_classification_label_layouts():
    x = torch.randn(4, 30, 16)
    single = vit1d.ViT1DForAudioClassification(tiny_config(num_labels=3)).eval()
    labels = torch.tensor([0, 2, 1, 1])
    expected = single(x, labels=labels).loss
    torch.testing.assert_close(single(x, labels=labels[:, None]).loss, expected)  # (B, 1), as transformers accepts
    with pytest.raises(ValueError, match=r"single_label_classification labels must have shape \(4,\).*got \(3,\)"):
        single(x, labels=labels[:3])
    explicit = vit1d.ViT1DForAudioClassification(tiny_config(num_labels=3, problem_type="single_label_classification"))
    with pytest.raises(ValueError, match=r"integer class indices.*labels.long\(\)"):
        explicit(x, labels=labels.float())
    multi = vit1d.ViT1DForAudioClassification(tiny_config(num_labels=3, problem_type="multi_label_classification"))
    with pytest.raises(ValueError, match=r"multi_label_classification labels must have shape \(4, 3\)"):
        multi(x, labels=torch.ones(4, 5))
    regression = vit1d.ViT1DForAudioClassification(tiny_config(num_labels=2, problem_type="regression")).eval()
    values = torch.randn(4, 2)
    out = regression(x, labels=values)
    torch.testing.assert_close(out.loss, F.mse_loss(out.logits, values))
    with pytest.raises(ValueError, match=r"regression labels must have shape \(4, 2\), got \(4,\)"):
        regression(x, labels=values[:, 0])
    scalar = vit1d.ViT1DForAudioClassification(tiny_config(num_labels=1)).eval()
    out = scalar(x, labels=values[:, 0])
    torch.testing.assert_close(out.loss, F.mse_loss(out.logits[:, 0], values[:, 0]))
    single.config.problem_type = "multilabel"  # set after construction: still refused, not silently BCE
    with pytest.raises(ValueError, match="problem_type must be one of"):
        single(x, labels=labels)


def test_frame_classification_label_layouts_and_ignored_targets():
    x = torch.randn(2, 30, 16)
    multi = vit1d.ViT1DForAudioFrameClassification(
        tiny_config(num_labels=2, problem_type="multi_label_classification")
    ).eval()
    with pytest.raises(ValueError, match=r"must have shape \(2, 30, 2\).*got \(2, 30, 3\)"):
        multi(x, labels=torch.ones(2, 30, 3))
    # -100 marks targets that are unknown (e.g. downbeats of a track without bar lines): they do not count.
    targets = torch.randint(0, 2, (2, 30, 2)).float()
    targets[0, :, 1] = -100
    out = multi(x, labels=targets)
    known = targets != -100
    torch.testing.assert_close(
        out.loss, F.binary_cross_entropy_with_logits(out.logits[known], targets[known])
    )


def test_frame_classification_ignores_padded_tokens():
    model = vit1d.ViT1DForAudioFrameClassification(tiny_config(num_labels=4)).eval()
    x = torch.randn(2, 30, 16)
    mask = torch.ones(2, 30, dtype=torch.long)
    mask[1, 12:] = 0
    labels = torch.randint(0, 4, (2, 30))
    out = model(x, attention_mask=mask, labels=labels)
    assert out.logits.shape == (2, 30, 4)
    valid = mask.bool()
    expected = F.cross_entropy(out.logits[valid], labels[valid])
    torch.testing.assert_close(out.loss, expected)
    # Multi-label (beat / downbeat) targets: the loss averages over real tokens only.
    multi = vit1d.ViT1DForAudioFrameClassification(
        tiny_config(num_labels=2, problem_type="multi_label_classification")
    ).eval()
    targets = torch.randint(0, 2, (2, 30, 2)).float()
    out = multi(x, attention_mask=mask, labels=targets)
    expected = F.binary_cross_entropy_with_logits(out.logits[valid], targets[valid])
    torch.testing.assert_close(out.loss, expected)
    with pytest.raises(ValueError, match="one entry per sequence token"):
        model(x, labels=labels[:, :20])


def _nt_xent_by_hand(a, b, temperature, track_ids=None):
    z = torch.cat([F.normalize(a, dim=-1), F.normalize(b, dim=-1)])
    n = a.shape[0]
    tracks = list(range(n)) * 2 if track_ids is None else list(track_ids) * 2
    losses = []
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        # The positive, and every crop of another track: never the anchor itself or other crops of its track.
        candidates = [k for k in range(2 * n) if k == positive or (k != i and tracks[k] != tracks[i])]
        similarities = torch.stack([z[i] @ z[k] / temperature for k in candidates])
        losses.append(-(similarities[candidates.index(positive)] - torch.logsumexp(similarities, 0)))
    return torch.stack(losses).mean()


def test_nt_xent_matches_the_formula():
    a, b = torch.randn(5, 8), torch.randn(5, 8)
    loss, logits = nt_xent_loss(a, b, temperature=0.1)
    torch.testing.assert_close(loss, _nt_xent_by_hand(a, b, 0.1))
    assert logits.shape == (10, 10) and torch.isinf(logits.diagonal()).all()
    # Perfectly aligned, well separated pairs give a loss near zero.
    eye = torch.eye(5, 8) * 10
    assert nt_xent_loss(eye, eye, temperature=0.05)[0] < 1e-3
    with pytest.raises(ValueError, match="same shape"):
        nt_xent_loss(a, b[:4])


def test_nt_xent_leaves_same_track_crops_out_of_the_negatives():
    a, b = torch.randn(6, 8), torch.randn(6, 8)
    track_ids = torch.tensor([3, 7, 3, 9, 7, 3])  # three pairs of track 3, two of track 7
    loss, logits = nt_xent_loss(a, b, temperature=0.1, track_ids=track_ids)
    torch.testing.assert_close(loss, _nt_xent_by_hand(a, b, 0.1, track_ids.tolist()))
    assert not torch.allclose(loss, nt_xent_loss(a, b, temperature=0.1)[0])
    tracks = torch.cat([track_ids, track_ids])
    targets = torch.arange(12).roll(6)
    finite = torch.isfinite(logits)
    assert finite[torch.arange(12), targets].all()  # every positive stays
    same = tracks[:, None] == tracks[None, :]
    same[torch.arange(12), targets] = False
    assert not (finite & same).any() and finite[~same & ~torch.eye(12, dtype=torch.bool)].all()
    # Distinct ids are the plain loss.
    torch.testing.assert_close(nt_xent_loss(a, b, 0.1, track_ids=torch.arange(6))[0], nt_xent_loss(a, b, 0.1)[0])
    with pytest.raises(ValueError, match="track_ids must have shape"):
        nt_xent_loss(a, b, track_ids=track_ids[:4])


def test_nt_xent_logits_stay_fp32_under_autocast():
    a, b = torch.randn(6, 8), torch.randn(6, 8)
    reference_loss, reference_logits = nt_xent_loss(a, b)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        loss, logits = nt_xent_loss(a, b)
    assert logits.dtype == torch.float32
    torch.testing.assert_close(logits, reference_logits)  # a bf16 product would err by ~1e-2 here
    torch.testing.assert_close(loss, reference_loss)


@pytest.mark.parametrize("projection_dim", [None, 16])
def test_contrastive_pretraining_model(projection_dim):
    model = vit1d.ViT1DForContrastivePretraining(tiny_config(projection_dim=projection_dim, nt_xent_temperature=0.2))
    views, positives = torch.randn(4, 30, 16), torch.randn(4, 30, 16)
    out = model(views, positives)
    class_tokens = torch.cat([model.vit1d(v).last_hidden_state[:, 0] for v in (views, positives)])
    torch.testing.assert_close(out.class_tokens, class_tokens, atol=1e-5, rtol=0)
    embeddings = model.projection_head(class_tokens) if projection_dim else class_tokens
    torch.testing.assert_close(out.loss, _nt_xent_by_hand(embeddings[:4], embeddings[4:], 0.2), atol=1e-5, rtol=0)
    assert out.embeddings.shape == (4, projection_dim or 32)
    out.loss.backward()
    assert model.vit1d.embeddings.cls_token.grad.abs().sum() > 0
    # Views of different lengths go through the encoder separately and give the same loss definition.
    out = model(views, positives[:, :20])
    assert torch.isfinite(out.loss)


@pytest.mark.slow
def test_torch_compile_fullgraph_matches_eager():
    """`torch.compile(model, fullgraph=True)` traces the padded and the unpadded path without a graph break and
    gives eager's outputs and gradients."""
    torch.manual_seed(0)
    model = vit1d.ViT1DModel(tiny_config()).train()
    compiled = torch.compile(model, fullgraph=True)
    x = torch.randn(3, 40, 16)
    mask = torch.ones(3, 40, dtype=torch.long)
    mask[1, 25:] = 0
    parameters = list(model.parameters())
    for attention_mask in (mask, None):
        out, reference = compiled(x, attention_mask=attention_mask), model(x, attention_mask=attention_mask)
        torch.testing.assert_close(out.last_hidden_state, reference.last_hidden_state, atol=1e-5, rtol=1e-5)
        gradients = torch.autograd.grad(out.pooler_output.square().sum(), parameters)
        reference_gradients = torch.autograd.grad(reference.pooler_output.square().sum(), parameters)
        for gradient, expected in zip(gradients, reference_gradients):
            torch.testing.assert_close(gradient, expected, atol=1e-4, rtol=1e-3)


def test_a_traced_model_still_masks_padding():
    """torch.jit.trace on an unpadded batch must not freeze "nothing is padded" into the trace."""
    model = vit1d.ViT1DModel(tiny_config()).eval()
    x = torch.randn(2, 30, 16)
    full = torch.ones(2, 30, dtype=torch.long)
    with torch.no_grad():
        traced = torch.jit.trace(model, (x, full), strict=False)
        padded = full.clone()
        padded[1, 20:] = 0
        expected = model(x, padded).last_hidden_state
        outputs = traced(x, padded)["last_hidden_state"]
        torch.testing.assert_close(outputs, expected, atol=1e-5, rtol=1e-5)
        alone = model(x[1:, :20]).last_hidden_state
        torch.testing.assert_close(outputs[1, :21], alone[0], atol=1e-5, rtol=1e-5)
