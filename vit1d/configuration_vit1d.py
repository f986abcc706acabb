# Copyright 2026 The vit1d authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""ViT-1D model configuration.

This file is copied next to the weights by `save_pretrained` for `trust_remote_code=True` loading: it may import
only the standard library and transformers.
"""

from transformers import PretrainedConfig

POSITION_EMBEDDING_TYPES = ("sincos_2d", "sincos_1d", "learned")
CLASS_TOKEN_TYPES = ("learnable_plus_mean", "learnable")
POOLING_TYPES = ("cls", "mean", "cls_and_mean")
FRAME_NORMALIZATION_TYPES = ("none", "layer_norm")
# The loss of the audio heads; None lets them infer it from `num_labels` and the labels' dtype.
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")


class ViT1DConfig(PretrainedConfig):
    r"""
    Configuration of a ViT-1D music encoder (Kong et al., "Emergent musical properties of a transformer under
    contrastive self-supervised learning", ISMIR 2025). The defaults give the paper's model: a ViT-Tiny encoder
    (12 pre-norm layers, width 192, 3 heads, MLP 768) over sequence tokens that each hold one log-mel frame
    (128 bins, 31.25 frames per second at 16 kHz), plus one class token equal to a learnable vector plus the mean of
    the projected sequence tokens. About 5.36 M parameters.

    Args:
        num_mel_bins (`int`, *optional*, defaults to 128):
            Number of mel bins of each input frame; must equal the feature extractor's `feature_size`.
        frame_normalization (`str`, *optional*, defaults to `"none"`):
            What happens to each log-mel frame before the projection. `"none"` (the paper as written): the frame's dB
            values go straight into the projection. `"layer_norm"`: each frame is normalised over its mel bins (a
            LayerNorm with learnable gain and bias) first, as the paper group's MT2 code does
            (`act(linear(norm(frame)))`, with `patch_activation`). Raw dB values (mean about -28, SD 25) make the
            projected tokens large against the position encoding (rms 8.5 vs 0.7) and attention near uniform at
            initialisation, and Adam's first-layer updates scale with them; normalising removes that, but also
            removes each frame's level, which is where onsets live. Standardising each mel bin with corpus statistics
            keeps relative levels: that is the feature extractor's `mel_mean` / `mel_std`, not a model option. See
            docs/decisions.md and docs/results.md for the measured effect of each.
        patch_activation (`str`, *optional*, defaults to `"none"`):
            Activation applied to the projected sequence tokens (any key of `transformers.activations.ACT2FN`, e.g.
            `"gelu"` as in MT2), before the class-token mean and the position encoding. `"none"`: none (the paper).
        frames_per_patch (`int`, *optional*, defaults to 1):
            Consecutive log-mel frames projected into one sequence token. 1 is the paper's model (one token per
            frame, 31.25 tokens per second). With k > 1 an input of T frames gives `ceil(T / k)` sequence tokens;
            frames of a partially padded last patch are zeroed before the projection.
        hidden_size (`int`, *optional*, defaults to 192):
            Width of the class token and the sequence tokens.
        num_hidden_layers (`int`, *optional*, defaults to 12):
            Number of transformer layers.
        num_attention_heads (`int`, *optional*, defaults to 3):
            Number of attention heads in every layer; must divide `hidden_size`.
        intermediate_size (`int`, *optional*, defaults to 768):
            Width of the hidden layer of each MLP block.
        hidden_act (`str`, *optional*, defaults to `"gelu"`):
            Activation of the MLP blocks, any key of `transformers.activations.ACT2FN`.
        hidden_dropout_prob (`float`, *optional*, defaults to 0.0):
            Dropout on the outputs of the attention and MLP blocks (0 in the paper).
        attention_probs_dropout_prob (`float`, *optional*, defaults to 0.0):
            Dropout on the attention probabilities (0 in the paper).
        layer_norm_eps (`float`, *optional*, defaults to 1e-6):
            Epsilon of every LayerNorm (pre-norm layers and the final LayerNorm).
        qkv_bias (`bool`, *optional*, defaults to `True`):
            Whether the query, key and value projections have a bias.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the truncated normal initialisation of linear layers, the class token and learned
            position embeddings.
        position_embedding_type (`str`, *optional*, defaults to `"sincos_2d"`):
            Positional encoding added to the sequence tokens (the class token gets none):
            - `"sincos_2d"`: the paper's 2D sine-cosine encoding (as in MAE) over a grid of 1 frequency patch by
              T time patches: the first half of the channels encodes the time index, the second half the frequency
              index (always 0, as each token spans every mel bin). Computed for any length.
            - `"sincos_1d"`: 1D sine-cosine encoding of the time index over all channels. Computed for any length.
            - `"learned"`: a learned table of `max_frames` rows; longer inputs raise an error.
        max_frames (`int`, *optional*, defaults to 1024):
            Number of sequence-token positions of the learned position table (used only with
            `position_embedding_type="learned"`); 1024 tokens are 32.8 s with one frame per token.
        class_token_type (`str`, *optional*, defaults to `"learnable_plus_mean"`):
            - `"learnable_plus_mean"`: the paper's class token, a learnable vector plus the mean of the projected
              sequence tokens (before position embeddings, over unpadded tokens only), recomputed every forward pass.
            - `"learnable"`: a plain learnable class token as in ViT, an ablation: in a one-seed A/B against the
              paper's token (1000 steps) its key probe fell by 0.126 [0.060, 0.193] and nothing improved.
        pooling (`str`, *optional*, defaults to `"cls"`):
            What `pooler_output` holds, read from the last hidden state (after the final LayerNorm):
            - `"cls"`: the class token (what NT-Xent is trained on);
            - `"mean"`: the mean of the unpadded sequence tokens;
            - `"cls_and_mean"`: the mean over the class token and the unpadded sequence tokens (the paper's
              "average" representation, better than the class token alone for tagging).
        projection_dim (`int`, *optional*):
            If set, `ViT1DForContrastivePretraining` passes class tokens through a projection head (Linear, GELU,
            Linear) to this size before the NT-Xent loss. `None` (the paper) computes the loss on the class tokens
            directly. The projection head is not part of `ViT1DModel`.
        projection_hidden_size (`int`, *optional*):
            Hidden width of the projection head; defaults to `hidden_size` when `projection_dim` is set.
        nt_xent_temperature (`float`, *optional*, defaults to 0.1):
            Temperature of the NT-Xent loss of `ViT1DForContrastivePretraining` (the paper's 0.1). Not named
            `temperature`, which transformers reserves for text generation and drops from loaded configs.
        sampling_rate (`int`, *optional*, defaults to 16000):
            Sampling rate the model was trained at, recorded for users and model cards (the feature extractor
            enforces it).
        hop_length (`int`, *optional*, defaults to 512):
            Hop of the log-mel frames in samples, recorded so that token timestamps can be derived from the config
            alone (`tokens_per_second`).
        kwargs:
            Passed to [`~transformers.PretrainedConfig`] (e.g. `num_labels`, `id2label`, `problem_type`).

    Example:

    ```python
    >>> from vit1d import ViT1DConfig, ViT1DModel

    >>> config = ViT1DConfig()  # the paper's ViT-1D
    >>> model = ViT1DModel(config)
    ```
    """

    model_type = "vit1d"

    def __init__(
        self,
        num_mel_bins: int = 128,
        frame_normalization: str = "none",
        patch_activation: str = "none",
        frames_per_patch: int = 1,
        hidden_size: int = 192,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 3,
        intermediate_size: int = 768,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.0,
        attention_probs_dropout_prob: float = 0.0,
        layer_norm_eps: float = 1e-6,
        qkv_bias: bool = True,
        initializer_range: float = 0.02,
        position_embedding_type: str = "sincos_2d",
        max_frames: int = 1024,
        class_token_type: str = "learnable_plus_mean",
        pooling: str = "cls",
        projection_dim: int | None = None,
        projection_hidden_size: int | None = None,
        nt_xent_temperature: float = 0.1,
        sampling_rate: int = 16000,
        hop_length: int = 512,
        **kwargs,
    ):
        _check_choice("position_embedding_type", position_embedding_type, POSITION_EMBEDDING_TYPES)
        _check_choice("class_token_type", class_token_type, CLASS_TOKEN_TYPES)
        _check_choice("pooling", pooling, POOLING_TYPES)
        # None reads as "none" (strings, so that `update_from_string` and --config_overrides can set them).
        frame_normalization = frame_normalization or "none"
        patch_activation = patch_activation or "none"
        _check_choice("frame_normalization", frame_normalization, FRAME_NORMALIZATION_TYPES)
        if patch_activation != "none":
            from transformers.activations import ACT2FN

            if patch_activation not in ACT2FN:
                raise ValueError(f"patch_activation must be 'none' or a key of transformers' ACT2FN (e.g. 'gelu'), "
                                 f"got {patch_activation!r}.")
        if hidden_size % num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({hidden_size}) must be divisible by num_attention_heads ({num_attention_heads})."
            )
        if position_embedding_type.startswith("sincos") and hidden_size % 4 != 0:
            raise ValueError(
                f"Sine-cosine position embeddings need hidden_size divisible by 4, got {hidden_size}; "
                "use position_embedding_type='learned' or another width."
            )
        if frames_per_patch < 1:
            raise ValueError(f"frames_per_patch must be >= 1, got {frames_per_patch}.")
        if nt_xent_temperature <= 0:
            raise ValueError(f"nt_xent_temperature must be > 0, got {nt_xent_temperature}.")
        if kwargs.get("problem_type") is not None:
            _check_choice("problem_type", kwargs["problem_type"], PROBLEM_TYPES)

        self.num_mel_bins = num_mel_bins
        self.frame_normalization = frame_normalization
        self.patch_activation = patch_activation
        self.frames_per_patch = frames_per_patch
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.layer_norm_eps = layer_norm_eps
        self.qkv_bias = qkv_bias
        self.initializer_range = initializer_range
        self.position_embedding_type = position_embedding_type
        self.max_frames = max_frames
        self.class_token_type = class_token_type
        self.pooling = pooling
        self.projection_dim = projection_dim
        self.projection_hidden_size = projection_hidden_size
        self.nt_xent_temperature = nt_xent_temperature
        self.sampling_rate = sampling_rate
        self.hop_length = hop_length
        super().__init__(**kwargs)

    @property
    def tokens_per_second(self) -> float:
        """Sequence tokens per second of audio (31.25 for the paper's model)."""
        return self.sampling_rate / (self.hop_length * self.frames_per_patch)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}.")


__all__ = ["ViT1DConfig"]
