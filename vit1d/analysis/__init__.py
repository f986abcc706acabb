"""The paper's analyses of a frozen ViT-1D (Kong et al., ISMIR 2025, section 5): onsets read from attention maps,
self-similarity matrices of the sequence tokens per layer, and their figures.

`attention`: attention maps of a window, onset-strength curves per layer and head (class-token row or column mean),
peak picking and `mir_eval.onset` scores, whole tracks stitched from overlapping 4 s windows. `ssm`: cosine
self-similarity per layer, Foote novelty and its alignment with chord changes and beats. `figures`: PNGs (needs
matplotlib, imported when a figure is drawn). `runner`: `run_analysis.py`'s library side (`AnalysisArguments`,
`run_analysis`, `markdown_tables`).
"""

from vit1d.analysis.attention import (
    MODES,
    OnsetStrengths,
    attention_maps,
    onset_scores,
    onset_strength,
    pick_onsets,
    spectral_flux,
    track_onset_strength,
)
from vit1d.analysis.figures import plot_attention_maps, plot_onset_curves, plot_probe_curves, plot_ssm_grid
from vit1d.analysis.runner import AnalysisArguments, markdown_tables, run_analysis
from vit1d.analysis.ssm import (
    beat_lag_contrast,
    boundary_alignment,
    chord_changes,
    novelty,
    self_similarity,
    ssm_for_layers,
    ssm_summary,
)

__all__ = [
    "AnalysisArguments", "MODES", "OnsetStrengths", "attention_maps", "beat_lag_contrast", "boundary_alignment",
    "chord_changes", "markdown_tables", "novelty", "onset_scores", "onset_strength", "pick_onsets",
    "plot_attention_maps", "plot_onset_curves", "plot_probe_curves", "plot_ssm_grid", "run_analysis",
    "self_similarity", "spectral_flux", "ssm_for_layers", "ssm_summary", "track_onset_strength",
]
