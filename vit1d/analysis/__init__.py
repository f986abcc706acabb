"""The paper's analyses of a frozen ViT-1D (Kong et al., ISMIR 2025, section 5): onsets read from attention maps,
self-similarity matrices of the sequence tokens per layer, and their figures.

`attention`: attention maps of a window, onset-strength curves per layer and head (class-token row or column mean),
peak picking and `mir_eval.onset` scores (at a grid of thresholds: `onset_score_grid`), whole tracks stitched from
overlapping 4 s windows, and the onset floors (`noise_curves`, `random_projection_curves`, `spectral_flux`). `ssm`: cosine
self-similarity per layer, Foote novelty and its alignment with chord changes and beats, from the full matrix or,
for whole tracks, from its band of lags and a block-mean picture of bounded size. `figures`: PNGs (needs
matplotlib, imported when a figure is drawn). `runner`: `run_analysis.py`'s library side (`AnalysisArguments`,
`run_analysis`, `markdown_tables`): selection of each model's onset configuration on a validation split before the
test split is read once, floors, random initialisations over several seeds, and bootstrap intervals.
"""

from vit1d.analysis.attention import (
    FLOORS,
    MODES,
    OnsetStrengths,
    attention_maps,
    noise_curves,
    onset_score_grid,
    onset_scores,
    onset_strength,
    pick_onsets,
    random_projection_curves,
    spectral_flux,
    track_onset_strength,
)
from vit1d.analysis.figures import plot_attention_maps, plot_onset_curves, plot_probe_curves, plot_ssm_grid
from vit1d.analysis.runner import AnalysisArguments, markdown_tables, run_analysis
from vit1d.analysis.ssm import (
    beat_lag_contrast,
    beat_lag_contrast_from_band,
    boundary_alignment,
    chord_changes,
    linear_cka,
    novelty,
    novelty_from_band,
    pooled_self_similarity,
    self_similarity,
    similarity_band,
    ssm_band,
    ssm_for_layers,
    ssm_summary,
    ssm_summary_from_tokens,
)

__all__ = [
    "AnalysisArguments", "FLOORS", "MODES", "OnsetStrengths", "attention_maps", "beat_lag_contrast",
    "beat_lag_contrast_from_band", "boundary_alignment", "chord_changes", "linear_cka", "markdown_tables",
    "noise_curves", "novelty",
    "novelty_from_band", "onset_score_grid", "onset_scores", "onset_strength", "pick_onsets", "plot_attention_maps",
    "plot_onset_curves", "random_projection_curves",
    "plot_probe_curves", "plot_ssm_grid", "pooled_self_similarity", "run_analysis", "self_similarity",
    "similarity_band", "spectral_flux", "ssm_band", "ssm_for_layers", "ssm_summary", "ssm_summary_from_tokens",
    "track_onset_strength",
]
