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
"""PyTorch ViT-1D: a ViT-Tiny encoder over log-mel frames, trained with NT-Xent on its class token.

This file is copied next to the weights by `save_pretrained` for `trust_remote_code=True` loading: it imports only
torch, transformers' public surface and its sibling configuration file.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BaseModelOutput,
    BaseModelOutputWithPooling,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import ModelOutput

from .configuration_vit1d import PROBLEM_TYPES, ViT1DConfig


def sincos_position_embedding(num_positions: int, dim: int, two_d: bool = True) -> torch.Tensor:
    """Sine-cosine position embeddings of shape `(num_positions, dim)` for time indices `0..num_positions-1`.

    With `two_d=True` this is MAE's 2D sine-cosine embedding over a grid of 1 frequency patch by `num_positions`
    time patches: the first half of the channels encodes the time index, the second half the frequency index, which
    is 0 for every token (sin 0 = 0, cos 0 = 1) because a token spans all mel bins.
    """
    encoded_dim = dim // 2 if two_d else dim
    omega = torch.arange(encoded_dim // 2, dtype=torch.float64) / (encoded_dim / 2.0)
    omega = 1.0 / 10000**omega
    angles = torch.arange(num_positions, dtype=torch.float64)[:, None] * omega[None, :]
    embedding = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if two_d:
        frequency = torch.cat([torch.zeros(encoded_dim // 2), torch.ones(encoded_dim // 2)]).to(torch.float64)
        embedding = torch.cat([embedding, frequency.expand(num_positions, -1)], dim=1)
    return embedding.float()


def frame_mask_to_token_mask(attention_mask: torch.Tensor, frames_per_patch: int) -> torch.Tensor:
    """Frame mask `(B, T)` -> boolean sequence-token mask `(B, ceil(T / k))`: a token is real if any frame is."""
    attention_mask = attention_mask.bool()
    pad = -attention_mask.shape[1] % frames_per_patch
    if pad:
        attention_mask = F.pad(attention_mask, (0, pad), value=False)
    return attention_mask.unflatten(1, (-1, frames_per_patch)).any(dim=-1)


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over dim 1 of `tokens` `(B, N, D)`, counting only tokens where the boolean `mask` `(B, N)` is True."""
    if mask is None:
        return tokens.mean(dim=1)
    weights = mask.to(tokens.dtype).unsqueeze(-1)
    return (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class ViT1DPatchEmbeddings(nn.Module):
    """Projects every `frames_per_patch` consecutive log-mel frames `(B, T, num_mel_bins)` to one sequence token
    `(B, ceil(T / k), hidden_size)`. With one frame per token this is the paper's kernel-1 convolution, written as
    the equivalent (and faster) linear layer. Optionally each frame is normalised over its mel bins first and the
    tokens pass an activation after (`config.frame_normalization`, `config.patch_activation`: MT2's
    `act(linear(norm(frame)))`)."""

    def __init__(self, config: ViT1DConfig):
        super().__init__()
        self.frames_per_patch = config.frames_per_patch
        self.num_mel_bins = config.num_mel_bins
        self.frame_norm = (nn.LayerNorm(config.num_mel_bins, eps=config.layer_norm_eps)
                           if config.frame_normalization == "layer_norm" else None)
        self.projection = nn.Linear(config.num_mel_bins * config.frames_per_patch, config.hidden_size)
        self.activation = ACT2FN[config.patch_activation] if config.patch_activation != "none" else None

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        if input_values.shape[-1] != self.num_mel_bins:
            raise ValueError(
                f"Expected input_values of shape (batch, frames, {self.num_mel_bins}), got "
                f"{tuple(input_values.shape)}."
                " Compute them with ViT1DFeatureExtractor (frames on dim 1, mel bins last)."
            )
        # Features arrive in float32 whatever the model was loaded in (e.g. `dtype=torch.bfloat16`).
        input_values = input_values.to(self.projection.weight.dtype)
        if self.frame_norm is not None:
            input_values = self.frame_norm(input_values)  # over the mel bins of each frame
        pad = -input_values.shape[1] % self.frames_per_patch
        if pad:
            input_values = F.pad(input_values, (0, 0, 0, pad))
        # (B, T, F) -> (B, T / k, k * F): k consecutive frames side by side in one patch.
        patches = input_values.reshape(input_values.shape[0], -1, self.frames_per_patch * self.num_mel_bins)
        tokens = self.projection(patches)
        return self.activation(tokens) if self.activation is not None else tokens


class ViT1DEmbeddings(nn.Module):
    """Class token followed by the position-encoded sequence tokens."""

    def __init__(self, config: ViT1DConfig):
        super().__init__()
        self.config = config
        self.patch_embeddings = ViT1DPatchEmbeddings(config)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        if config.position_embedding_type == "learned":
            self.position_embeddings = nn.Parameter(torch.zeros(1, config.max_frames, config.hidden_size))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def position_encoding(self, num_tokens: int, device, dtype) -> torch.Tensor:
        kind = self.config.position_embedding_type
        if kind == "learned":
            if num_tokens > self.config.max_frames:
                raise ValueError(
                    f"Input has {num_tokens} sequence tokens but the learned position table has max_frames="
                    f"{self.config.max_frames}. Embed long audio in windows (vit1d.embed_long_audio) or crop it."
                )
            return self.position_embeddings[:, :num_tokens]
        table = sincos_position_embedding(num_tokens, self.config.hidden_size, two_d=kind == "sincos_2d")
        return table.to(device=device, dtype=dtype).unsqueeze(0)

    def forward(self, input_values: torch.Tensor, token_mask: torch.Tensor | None = None) -> torch.Tensor:
        sequence_tokens = self.patch_embeddings(input_values)
        class_token = self.cls_token.expand(sequence_tokens.shape[0], -1, -1)
        if self.config.class_token_type == "learnable_plus_mean":
            # The paper's class token: computed from the projected frames before position encoding, so that it
            # summarises content, and over real tokens only, so that padding does not change it.
            class_token = class_token + masked_mean(sequence_tokens, token_mask).unsqueeze(1)
        sequence_tokens = sequence_tokens + self.position_encoding(
            sequence_tokens.shape[1], sequence_tokens.device, sequence_tokens.dtype
        )
        embeddings = torch.cat([class_token, sequence_tokens], dim=1)
        return self.dropout(embeddings)


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention that also returns its weights, with the signature of transformers' attention interface (see
    `ALL_ATTENTION_FUNCTIONS`). `query`, `key`, `value`: `(B, heads, L, head_dim)`; `attention_mask` is boolean
    `(B, 1, 1, L)`, True = attend. Returns the output `(B, L, heads, head_dim)` and the weights `(B, heads, L, L)`."""
    attn_weights = torch.matmul(query, key.transpose(-1, -2)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights.masked_fill(~attention_mask, torch.finfo(attn_weights.dtype).min)
    attn_weights = F.softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)
    attn_weights = F.dropout(attn_weights, p=dropout, training=module.training)
    return torch.matmul(attn_weights, value).transpose(1, 2).contiguous(), attn_weights


class ViT1DAttention(nn.Module):
    def __init__(self, config: ViT1DConfig):
        super().__init__()
        self.config = config
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.is_causal = False  # read by transformers' attention functions: every token sees every other
        self.q_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=config.qkv_bias)
        self.k_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=config.qkv_bias)
        self.v_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=config.qkv_bias)
        self.o_proj = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        # Separate projections, as in transformers' ViT: a fused QKV matmul is faster forward, but on CPU its
        # backward has to assemble the three SDPA gradients into one tensor and ends up slower overall.
        batch_size, length, _ = hidden_states.shape
        head_shape = (batch_size, length, self.num_heads, self.head_dim)
        query = self.q_proj(hidden_states).view(head_shape).transpose(1, 2)
        key = self.k_proj(hidden_states).view(head_shape).transpose(1, 2)
        value = self.v_proj(hidden_states).view(head_shape).transpose(1, 2)
        dropout = self.config.attention_probs_dropout_prob if self.training else 0.0

        # transformers' attention interface dispatches on config._attn_implementation ("sdpa" by default). SDPA
        # returns no weights, so a call that asks for them runs the eager function instead.
        implementation = "eager" if output_attentions else self.config._attn_implementation
        attention_function = ALL_ATTENTION_FUNCTIONS.get_interface(implementation, eager_attention_forward)
        attn_output, attn_weights = attention_function(
            self, query, key, value, attention_mask, scaling=self.scaling, dropout=dropout
        )
        attn_output = attn_output.reshape(batch_size, length, -1)  # (B, L, heads, head_dim) -> (B, L, D)
        return self.o_proj(attn_output), attn_weights


class ViT1DMLP(nn.Module):
    def __init__(self, config: ViT1DConfig):
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation_fn = ACT2FN[config.hidden_act]
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation_fn(self.fc1(hidden_states)))


class ViT1DLayer(GradientCheckpointingLayer):
    """Pre-norm transformer layer: x + Attention(LN(x)), then x + MLP(LN(x)). As a `GradientCheckpointingLayer`,
    `model.gradient_checkpointing_enable()` recomputes each layer in the backward pass (inputs stay positional)."""

    def __init__(self, config: ViT1DConfig):
        super().__init__()
        self.layernorm_before = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = ViT1DAttention(config)
        self.layernorm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = ViT1DMLP(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attn_output, attn_weights = self.attention(
            self.layernorm_before(hidden_states), attention_mask, output_attentions
        )
        hidden_states = hidden_states + self.dropout(attn_output)
        hidden_states = hidden_states + self.dropout(self.mlp(self.layernorm_after(hidden_states)))
        return hidden_states, attn_weights


class ViT1DEncoder(nn.Module):
    def __init__(self, config: ViT1DConfig):
        super().__init__()
        self.layer = nn.ModuleList([ViT1DLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> BaseModelOutput:
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layer:
            hidden_states, attn_weights = layer(hidden_states, attention_mask, output_attentions)
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if output_attentions:
                all_attentions += (attn_weights,)
        return BaseModelOutput(
            last_hidden_state=hidden_states, hidden_states=all_hidden_states, attentions=all_attentions
        )


class ViT1DPreTrainedModel(PreTrainedModel):
    config: ViT1DConfig
    config_class = ViT1DConfig
    base_model_prefix = "vit1d"
    main_input_name = "input_values"
    input_modalities = ("audio",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["ViT1DEmbeddings", "ViT1DLayer"]
    _supports_sdpa = True

    @torch.no_grad()
    def _init_weights(self, module):
        # nn.init functions on the Parameter itself: transformers guards them so loaded weights are not overwritten.
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, ViT1DEmbeddings):
            nn.init.trunc_normal_(module.cls_token, std=std)
            if getattr(module, "position_embeddings", None) is not None:
                nn.init.trunc_normal_(module.position_embeddings, std=std)


VIT1D_INPUTS_DOCSTRING = r"""
    Args:
        input_values (`torch.FloatTensor` of shape `(batch_size, num_frames, num_mel_bins)`):
            Log-mel spectrogram frames in dB from [`ViT1DFeatureExtractor`] (16 kHz mono audio, hop 512, 128 bins).
            Any number of frames is accepted.
        attention_mask (`torch.LongTensor` of shape `(batch_size, num_frames)`, *optional*):
            1 for real frames, 0 for padding, as returned by the feature extractor. Padded frames are excluded from
            attention, from the class-token mean and from pooling.
        output_attentions (`bool`, *optional*):
            Return the attention probabilities of every layer. Runs the eager attention path for this call.
        output_hidden_states (`bool`, *optional*):
            Return the embeddings and the output of every layer.
        return_dict (`bool`, *optional*):
            Return a [`~transformers.utils.ModelOutput`] instead of a tuple.
"""


class ViT1DModel(ViT1DPreTrainedModel):
    r"""
    The bare ViT-1D encoder.

    Outputs: `last_hidden_state` `(batch_size, 1 + num_tokens, hidden_size)`, the class token first, after the final
    LayerNorm; `pooler_output` `(batch_size, hidden_size)` according to `config.pooling`; with
    `output_hidden_states`, `hidden_states` holds `num_hidden_layers + 1` tensors (the embeddings, then each layer's
    output before the final LayerNorm); with `output_attentions`, `attentions` holds one
    `(batch_size, num_heads, 1 + num_tokens, 1 + num_tokens)` tensor per layer.
    """

    def __init__(self, config: ViT1DConfig):
        super().__init__(config)
        self.config = config
        self.embeddings = ViT1DEmbeddings(config)
        self.encoder = ViT1DEncoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self) -> ViT1DPatchEmbeddings:
        return self.embeddings.patch_embeddings

    def set_input_embeddings(self, value: nn.Module):
        self.embeddings.patch_embeddings = value

    def get_token_mask(self, attention_mask: torch.Tensor | None) -> torch.Tensor | None:
        """Boolean mask of the sequence tokens `(batch_size, num_tokens)` for a frame `attention_mask`."""
        if attention_mask is None:
            return None
        return frame_mask_to_token_mask(attention_mask, self.config.frames_per_patch)

    def pool(self, last_hidden_state: torch.Tensor, token_mask: torch.Tensor | None) -> torch.Tensor:
        """`pooler_output` of a last hidden state, following `config.pooling`."""
        if self.config.pooling == "cls":
            return last_hidden_state[:, 0]
        if self.config.pooling == "mean":
            return masked_mean(last_hidden_state[:, 1:], token_mask)
        if token_mask is not None:
            token_mask = F.pad(token_mask, (1, 0), value=True)
        return masked_mean(last_hidden_state, token_mask)

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> tuple | BaseModelOutputWithPooling:
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict

        if input_values.ndim != 3:
            raise ValueError(
                f"Expected input_values of shape (batch, frames, {self.config.num_mel_bins}), got "
                f"{tuple(input_values.shape)}. Batch a single clip with input_values[None]."
            )
        if input_values.shape[1] == 0:
            raise ValueError(
                "input_values has 0 frames: there is nothing to encode. The feature extractor gives at least one frame "
                "per clip; check that the audio is not empty."
            )
        if attention_mask is not None and attention_mask.shape != input_values.shape[:2]:
            raise ValueError(
                f"attention_mask has shape {tuple(attention_mask.shape)} but input_values has "
                f"{tuple(input_values.shape[:2])} (batch, frames): pass the mask the feature extractor returned."
            )
        token_mask = self.get_token_mask(attention_mask)
        tracing = torch.compiler.is_compiling() or torch.jit.is_tracing()
        if token_mask is not None and not tracing and bool(token_mask.all()):
            # Nothing is padded: take SDPA's unmasked fast path. Not under torch.compile, where reading the mask's
            # value would break the graph, nor under torch.jit.trace, which would freeze this example's answer into
            # the trace and ignore the padding of later inputs (the masked path gives the same result).
            token_mask = None
        if token_mask is not None and self.config.frames_per_patch > 1:
            # A partly padded last patch must not depend on what the padding frames hold.
            input_values = input_values * attention_mask[..., None].to(input_values.dtype)

        embedding_output = self.embeddings(input_values, token_mask)
        attn_mask = None
        if token_mask is not None:
            attn_mask = F.pad(token_mask, (1, 0), value=True)[:, None, None, :]
        encoder_outputs = self.encoder(embedding_output, attn_mask, output_attentions, output_hidden_states)
        sequence_output = self.layernorm(encoder_outputs.last_hidden_state)
        pooled_output = self.pool(sequence_output, token_mask)

        if not return_dict:
            extras = tuple(v for v in (encoder_outputs.hidden_states, encoder_outputs.attentions) if v is not None)
            return (sequence_output, pooled_output) + extras
        return BaseModelOutputWithPooling(
            last_hidden_state=sequence_output,
            pooler_output=pooled_output,
            hidden_states=encoder_outputs.hidden_states,
            attentions=encoder_outputs.attentions,
        )


ViT1DModel.forward.__doc__ = VIT1D_INPUTS_DOCSTRING


def nt_xent_loss(
    embeddings: torch.Tensor,
    positive_embeddings: torch.Tensor,
    temperature: float = 0.1,
    gather_across_processes: bool = False,
    track_ids: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """NT-Xent (SimCLR) loss of N positive pairs `(embeddings[i], positive_embeddings[i])`, both `(N, D)`.

    Each of the 2N embeddings must pick out its positive among the other 2N - 1 (cosine similarity / temperature,
    computed in fp32); the loss is the mean cross-entropy over all 2N. With `gather_across_processes=True` and an
    initialised `torch.distributed` process group, the pairs of every process are gathered with a differentiable
    all_gather, so the negatives span the global batch and every process computes the same global loss.

    `track_ids` (`(N,)` integers, gathered alike) names the track each pair comes from: the crops of an anchor's own
    track other than its positive are then left out of its negatives (their logits set to -inf), since pushing two
    crops of one track apart contradicts the positive pair. Without it every other crop is a negative.

    Returns the loss and the `(2N, 2N)` logits (self-similarity and same-track negatives masked to -inf), rows
    ordered `[embeddings; positive_embeddings]`.
    """
    if embeddings.shape != positive_embeddings.shape or embeddings.ndim != 2:
        raise ValueError(
            f"NT-Xent needs two (N, D) tensors of the same shape, got {tuple(embeddings.shape)} and "
            f"{tuple(positive_embeddings.shape)}."
        )
    if track_ids is not None and tuple(track_ids.shape) != (embeddings.shape[0],):
        raise ValueError(f"track_ids must have shape ({embeddings.shape[0]},), got {tuple(track_ids.shape)}.")
    if gather_across_processes and torch.distributed.is_available() and torch.distributed.is_initialized():
        from torch.distributed.nn.functional import all_gather

        embeddings = torch.cat(all_gather(embeddings.contiguous()), dim=0)
        positive_embeddings = torch.cat(all_gather(positive_embeddings.contiguous()), dim=0)
        if track_ids is not None:
            gathered = [torch.empty_like(track_ids) for _ in range(torch.distributed.get_world_size())]
            torch.distributed.all_gather(gathered, track_ids.contiguous())
            track_ids = torch.cat(gathered)

    num_pairs = embeddings.shape[0]
    # fp32 logits even under mixed precision: autocast would run this product in bf16/fp16.
    with torch.autocast(device_type=embeddings.device.type, enabled=False):
        z = F.normalize(torch.cat([embeddings, positive_embeddings]).float(), dim=-1)
        logits = z @ z.T / temperature
    targets = torch.arange(2 * num_pairs, device=z.device).roll(num_pairs)
    excluded = torch.eye(2 * num_pairs, dtype=torch.bool, device=z.device)
    if track_ids is not None:
        tracks = torch.cat([track_ids, track_ids]).to(z.device)
        same_track = tracks[:, None] == tracks[None, :]
        same_track[torch.arange(2 * num_pairs, device=z.device), targets] = False  # the positive stays
        excluded |= same_track
    logits = logits.masked_fill(excluded, float("-inf"))
    return F.cross_entropy(logits, targets), logits


@dataclass
class ViT1DContrastiveOutput(ModelOutput):
    """
    Output of [`ViT1DForContrastivePretraining`].

    Args:
        loss (`torch.FloatTensor` of shape `()`): NT-Xent loss over the class tokens of both views.
        logits (`torch.FloatTensor` of shape `(2 * batch_size, 2 * batch_size)`): cosine similarities / temperature,
            rows and columns ordered `[views; positive views]`, self-similarity and same-track negatives set to -inf.
        embeddings (`torch.FloatTensor` of shape `(batch_size, dim)`): what the loss compares for the first views
            (projected class tokens when `config.projection_dim` is set, class tokens otherwise).
        positive_embeddings (`torch.FloatTensor` of shape `(batch_size, dim)`): the same for the positive views.
        class_tokens (`torch.FloatTensor` of shape `(2 * batch_size, hidden_size)`): last-layer class tokens.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    embeddings: torch.FloatTensor | None = None
    positive_embeddings: torch.FloatTensor | None = None
    class_tokens: torch.FloatTensor | None = None


class ViT1DProjectionHead(nn.Module):
    def __init__(self, config: ViT1DConfig):
        super().__init__()
        hidden = config.projection_hidden_size or config.hidden_size
        self.dense = nn.Linear(config.hidden_size, hidden)
        self.activation_fn = ACT2FN[config.hidden_act]
        self.projection = nn.Linear(hidden, config.projection_dim)

    def forward(self, class_tokens: torch.Tensor) -> torch.Tensor:
        return self.projection(self.activation_fn(self.dense(class_tokens)))


class ViT1DForContrastivePretraining(ViT1DPreTrainedModel):
    r"""
    ViT-1D with the paper's contrastive objective: two views (e.g. two 4 s crops of the same track) go in, the NT-Xent
    loss over their last-layer class tokens comes out (temperature `config.nt_xent_temperature`, other pairs of the
    batch as negatives). Save `model.vit1d` to share the encoder alone.
    """

    def __init__(self, config: ViT1DConfig):
        super().__init__(config)
        self.vit1d = ViT1DModel(config)
        self.projection_head = ViT1DProjectionHead(config) if config.projection_dim else None
        self.post_init()

    def forward(
        self,
        input_values: torch.Tensor,
        positive_input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        positive_attention_mask: torch.Tensor | None = None,
        gather_across_processes: bool = False,
        track_ids: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> tuple | ViT1DContrastiveOutput:
        r"""
        input_values, positive_input_values (`torch.FloatTensor` of shape `(batch_size, num_frames, num_mel_bins)`):
            The two views; row i of each is a positive pair.
        attention_mask, positive_attention_mask (`torch.LongTensor` of shape `(batch_size, num_frames)`, *optional*):
            Frame masks of the two views.
        gather_across_processes (`bool`, *optional*, defaults to `False`):
            Take negatives from every process of an initialised `torch.distributed` group (see [`nt_xent_loss`]).
        track_ids (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
            The track of each pair: crops of an anchor's own track are left out of its negatives.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if input_values.shape[0] != positive_input_values.shape[0]:
            raise ValueError(
                f"Both views need the same batch size, got {input_values.shape[0]} and "
                f"{positive_input_values.shape[0]}."
            )
        class_tokens = self._encode_views(input_values, positive_input_values, attention_mask, positive_attention_mask)
        projected = self.projection_head(class_tokens) if self.projection_head is not None else class_tokens
        embeddings, positive_embeddings = projected.chunk(2)
        loss, logits = nt_xent_loss(
            embeddings, positive_embeddings, self.config.nt_xent_temperature, gather_across_processes, track_ids
        )
        if not return_dict:
            return loss, logits, embeddings, positive_embeddings, class_tokens
        return ViT1DContrastiveOutput(
            loss=loss,
            logits=logits,
            embeddings=embeddings,
            positive_embeddings=positive_embeddings,
            class_tokens=class_tokens,
        )

    def _encode_views(self, views, positive_views, mask, positive_mask) -> torch.Tensor:
        if views.shape[1:] == positive_views.shape[1:]:
            # One pass over both views halves the kernel launches and keeps the two halves in the same batch.
            masks = None
            if mask is not None or positive_mask is not None:
                masks = torch.cat([_full_mask_if_none(mask, views), _full_mask_if_none(positive_mask, positive_views)])
            outputs = self.vit1d(torch.cat([views, positive_views]), attention_mask=masks, return_dict=True)
            return outputs.last_hidden_state[:, 0]
        first = self.vit1d(views, attention_mask=mask, return_dict=True).last_hidden_state[:, 0]
        second = self.vit1d(positive_views, attention_mask=positive_mask, return_dict=True).last_hidden_state[:, 0]
        return torch.cat([first, second])


def _full_mask_if_none(mask: torch.Tensor | None, values: torch.Tensor) -> torch.Tensor:
    if mask is not None:
        return mask
    return torch.ones(values.shape[:2], dtype=torch.long, device=values.device)


def _head_tuple(loss, logits, outputs: BaseModelOutputWithPooling) -> tuple:
    """The `return_dict=False` output of a head model: (loss,) logits, then whichever optional outputs were asked."""
    output = (logits,) + tuple(v for v in (outputs.hidden_states, outputs.attentions) if v is not None)
    return ((loss,) + output) if loss is not None else output


def _infer_problem_type(config: ViT1DConfig, labels: torch.Tensor) -> str:
    if config.problem_type is not None:
        if config.problem_type not in PROBLEM_TYPES:
            raise ValueError(f"config.problem_type must be one of {PROBLEM_TYPES} or None, got {config.problem_type!r}.")
        return config.problem_type
    if config.num_labels == 1:
        return "regression"
    if not labels.is_floating_point():
        return "single_label_classification"
    return "multi_label_classification"


def _labels_for_loss(labels: torch.Tensor, logits: torch.Tensor, problem_type: str) -> torch.Tensor:
    """`labels` reshaped to what the loss of `problem_type` compares with `logits` `(*batch, num_labels)`, or a
    ValueError that names the expected layout. Class indices have the batch shape (a trailing 1 is accepted);
    multi-hot targets have the logits' shape; regression values have the logits' shape or, with one label, the batch
    shape."""
    batch_shape, num_labels = tuple(logits.shape[:-1]), logits.shape[-1]
    shape = tuple(labels.shape)
    if problem_type == "single_label_classification":
        if labels.is_floating_point():
            raise ValueError(
                f"Single-label classification takes integer class indices, got {labels.dtype} labels. Pass "
                "`labels.long()`, or set config.problem_type='multi_label_classification' for multi-hot targets."
            )
        if shape in (batch_shape, batch_shape + (1,)):
            return labels.reshape(batch_shape)
        expected = f"{batch_shape} (class indices in 0..{num_labels - 1}, -100 to ignore)"
    elif problem_type == "multi_label_classification":
        if shape == tuple(logits.shape):
            return labels
        expected = f"{tuple(logits.shape)} (one 0/1 target per label; num_labels={num_labels})"
    else:
        if shape == tuple(logits.shape) or (num_labels == 1 and shape == batch_shape):
            return labels.reshape(logits.shape)
        expected = f"{tuple(logits.shape)}" + (f" or {batch_shape}" if num_labels == 1 else "")
    raise ValueError(f"{problem_type} labels must have shape {expected}, got {shape}.")


class ViT1DForAudioClassification(ViT1DPreTrainedModel):
    r"""
    ViT-1D with a linear layer on `pooler_output` (see `config.pooling`) for clip-level tasks such as tagging
    (`problem_type="multi_label_classification"`, sigmoid + BCE) or key (`"single_label_classification"`, softmax +
    cross-entropy).
    """

    def __init__(self, config: ViT1DConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.vit1d = ViT1DModel(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> tuple | SequenceClassifierOutput:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size,)` or `torch.FloatTensor` of shape
        `(batch_size, num_labels)`, *optional*):
            Class indices for single-label classification, multi-hot targets for multi-label classification, or
            values for regression (`num_labels == 1`), following `config.problem_type` (inferred when unset).
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.vit1d(
            input_values,
            attention_mask=attention_mask,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.classifier(outputs.pooler_output)
        loss = None
        if labels is not None:
            loss = self._loss(logits, labels.to(logits.device))
        if not return_dict:
            return _head_tuple(loss, logits, outputs)
        return SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        problem_type = _infer_problem_type(self.config, labels)
        labels = _labels_for_loss(labels, logits, problem_type)
        if problem_type == "regression":
            return F.mse_loss(logits.float(), labels.float())
        if problem_type == "single_label_classification":
            return F.cross_entropy(logits.float(), labels.long())
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float())


class ViT1DForAudioFrameClassification(ViT1DPreTrainedModel):
    r"""
    ViT-1D with a linear layer on every sequence token (`config.tokens_per_second` per second of audio, 31.25 for the
    paper's model) for local tasks: beat and downbeat activations (`problem_type="multi_label_classification"`,
    multi-hot float targets) or chords (`"single_label_classification"`, class indices, -100 ignored). Padded tokens
    never contribute to the loss.
    """

    def __init__(self, config: ViT1DConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.vit1d = ViT1DModel(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> tuple | TokenClassifierOutput:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size, num_tokens)` or `torch.FloatTensor` of shape
        `(batch_size, num_tokens, num_labels)`, *optional*):
            Per-token class indices (-100 = ignore) or multi-hot targets, one per sequence token.

        Returns `logits` of shape `(batch_size, num_tokens, num_labels)`, one row per sequence token (the class token
        is left out).
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.vit1d(
            input_values,
            attention_mask=attention_mask,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.classifier(outputs.last_hidden_state[:, 1:])
        loss = None
        if labels is not None:
            token_mask = self.vit1d.get_token_mask(attention_mask)
            loss = self._loss(logits, labels.to(logits.device), token_mask)
        if not return_dict:
            return _head_tuple(loss, logits, outputs)
        return TokenClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor, token_mask: torch.Tensor | None) -> torch.Tensor:
        if labels.shape[:2] != logits.shape[:2]:
            raise ValueError(
                f"Frame labels must have one entry per sequence token: logits {tuple(logits.shape[:2])}, labels "
                f"{tuple(labels.shape[:2])}. Use ViT1DFeatureExtractor.frame_times to place targets on tokens."
            )
        if token_mask is None:
            token_mask = torch.ones(labels.shape[:2], dtype=torch.bool, device=labels.device)
        problem_type = _infer_problem_type(self.config, labels)
        labels = _labels_for_loss(labels, logits, problem_type)
        if problem_type == "single_label_classification":
            labels = labels.long().masked_fill(~token_mask, -100)
            return F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100)
        if problem_type == "regression":
            per_entry = F.mse_loss(logits.float(), labels.float(), reduction="none")
        else:
            per_entry = F.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="none")
        # Padded tokens and -100 targets (e.g. unknown downbeats) do not count.
        weights = (token_mask.unsqueeze(-1) & (labels != -100)).to(per_entry.dtype)
        return (per_entry * weights).sum() / weights.sum().clamp(min=1.0)


__all__ = [
    "ViT1DPreTrainedModel",
    "ViT1DModel",
    "ViT1DForContrastivePretraining",
    "ViT1DForAudioClassification",
    "ViT1DForAudioFrameClassification",
    "nt_xent_loss",
    "sincos_position_embedding",
]
