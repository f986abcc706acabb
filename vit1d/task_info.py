"""The four downstream tasks of the paper, described once: which tokens each reads, its label columns, its metrics
and its headline metric. Probing, claims, the headroom check, figures, the model card and the demo all read them here.

This module imports nothing heavy, so that the claims and the Hub code can use it without loading the probes.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskInfo:
    """One task.

    Attributes:
        name: "tagging", "key", "beat" or "chord".
        tokens: "class" for a global task (a label per track, probed on window-level representations: class token,
            sequence mean or their average) or "sequence" for a local task (a target per sequence token, 31.25/s).
        label_columns: the dataset columns that hold its labels (any one of them; see `vit1d.probing.labels`).
        label_kind: "tags" (multi-label), "class" (one label per track), "events" (times) or "segments" (intervals
            with labels).
        metrics: `(table header, metric key)` of its results table, in order.
        headline: the metric key that early stopping maximises on validation and that claims and headroom use.
        per_track: whether the headline is a mean of per-track scores (tagging's mAP is computed over the set).
        hub_task_type: the Hub's task type for the model card's `model-index`.
    """

    name: str
    tokens: str
    label_columns: tuple[str, ...]
    label_kind: str
    metrics: tuple[tuple[str, str], ...]
    headline: str
    per_track: bool
    hub_task_type: str

    @property
    def is_local(self) -> bool:
        return self.tokens == "sequence"


TASK_INFO = {info.name: info for info in (
    TaskInfo("tagging", "class", ("tags",), "tags", (("mAP", "mAP"), ("ROC-AUC", "ROC-AUC")), "mAP",
             per_track=False, hub_task_type="audio-classification"),
    TaskInfo("key", "class", ("key",), "class", (("accuracy", "accuracy"), ("MIREX weighted", "weighted_score")),
             "weighted_score", per_track=True, hub_task_type="audio-classification"),
    TaskInfo("beat", "sequence", ("beats",), "events",
             (("F-measure", "F-measure"), ("CMLt", "Correct Metric Level Total"), ("AMLt", "Any Metric Level Total"),
              ("F, tempo-regular", "tempo_regular:F-measure"),
              ("CMLt, tempo-regular", "tempo_regular:Correct Metric Level Total"),
              ("AMLt, tempo-regular", "tempo_regular:Any Metric Level Total")),
             "F-measure", per_track=True, hub_task_type="audio-frame-classification"),
    TaskInfo("chord", "sequence", ("chord_intervals", "chords"), "segments",
             (("frame accuracy", "frame_accuracy"), ("majmin", "majmin"), ("root", "root")),
             "frame_accuracy", per_track=True, hub_task_type="audio-frame-classification"),
)}
TASKS = tuple(TASK_INFO)
GLOBAL_TASKS = tuple(name for name, info in TASK_INFO.items() if not info.is_local)
LOCAL_TASKS = tuple(name for name, info in TASK_INFO.items() if info.is_local)
HEADLINE = {name: info.headline for name, info in TASK_INFO.items()}

__all__ = ["GLOBAL_TASKS", "HEADLINE", "LOCAL_TASKS", "TASKS", "TASK_INFO", "TaskInfo"]
