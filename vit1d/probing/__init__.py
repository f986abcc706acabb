"""Linear probing of frozen ViT-1D embeddings on tagging, key, beat and chord (Kong et al., ISMIR 2025, section 4).

`labels`: targets at the token times of the feature extractor and readers of the user-dataset columns (the schema is
in its docstring). `metrics`: the tasks' scores, mir_eval for key/beat/chord and scikit-learn for tagging; the same
functions back the `evaluate` modules under the repository's `metrics/` folder.
"""

from vit1d.probing.labels import (
    CHORD_CLASS_LABELS,
    KEY_LABELS,
    beat_targets,
    chord_class,
    chord_targets,
    key_class,
    key_vocabulary,
    load_lab,
    multi_hot,
    parse_key,
    read_beats,
    read_chords,
    tag_vocabulary,
)
from vit1d.probing.metrics import (
    aggregate,
    beat_metrics,
    chord_metrics,
    decode_beats,
    key_metrics,
    select_beat_threshold,
    tagging_metrics,
    tokens_to_intervals,
)

__all__ = [
    "CHORD_CLASS_LABELS", "KEY_LABELS", "aggregate", "beat_metrics", "beat_targets", "chord_class", "chord_metrics",
    "chord_targets", "decode_beats", "key_class", "key_metrics", "key_vocabulary", "load_lab", "multi_hot",
    "parse_key", "read_beats", "read_chords", "select_beat_threshold", "tag_vocabulary", "tagging_metrics",
    "tokens_to_intervals",
]
