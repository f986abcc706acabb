"""Chord recognition scores (frame accuracy, mir_eval.chord majmin / root / ...) as an `evaluate` metric:
`evaluate.load("metrics/chord")`.

Needs the `vit1d` package installed (`pip install vit1d`, or `pip install -e .` in this repository): `evaluate` copies
this script into its module cache, so it imports the scoring code from the installed package.
"""

import datasets
import evaluate

from vit1d.probing.metrics import MIR_EVAL_CITATION, aggregate, chord_metrics

_DESCRIPTION = """\
Chord scores of per-frame predictions in the 25-class vocabulary (0-11 C..B major, 12-23 C..B minor, 24 N; see
`vit1d.probing.labels.CHORD_CLASS_LABELS`) against reference chord segments in mir_eval syntax: frame accuracy
against the reference reduced to maj/min/N, and the duration-weighted scores of mir_eval.chord.evaluate ("majmin",
"root", "mirex", ...) after the frames are turned into segments. Tracks are averaged weighted by their reference
duration (MIREX's collection-level weighted chord symbol recall) unless `weighting="track"`.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: per track, the predicted class of every frame (token).
    token_times: per track, the time in seconds of every frame (e.g. `ViT1DFeatureExtractor.frame_times`).
    reference_intervals: per track, `[[start, end], ...]` of the reference chord segments, in seconds.
    reference_labels: per track, the labels of those segments ("C:maj", "A:min7", "N", ...).
    weighting: "duration" (default) or "track" (plain mean over tracks).
Returns:
    "frame_accuracy", "majmin", "root" and the other mir_eval.chord scores, "duration", "num_tracks".
Example:
    >>> chord = evaluate.load("metrics/chord")
    >>> chord.compute(predictions=[[0, 0, 21, 21]], token_times=[[0.5, 1.5, 2.5, 3.5]],
    ...               reference_intervals=[[[0.0, 2.0], [2.0, 4.0]]], reference_labels=[["C:maj", "A:min"]])["majmin"]
    1.0
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Chord(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=MIR_EVAL_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({
                "predictions": datasets.Sequence(datasets.Value("int64")),
                "token_times": datasets.Sequence(datasets.Value("float64")),
                "reference_intervals": datasets.Sequence(datasets.Sequence(datasets.Value("float64"))),
                "reference_labels": datasets.Sequence(datasets.Value("string")),
            }),
            reference_urls=["https://mir-eval.readthedocs.io/latest/api/chord.html"],
        )

    def _compute(self, predictions, token_times, reference_intervals, reference_labels, weighting="duration"):
        if weighting not in ("duration", "track"):
            raise ValueError(f"weighting must be 'duration' or 'track', got {weighting!r}.")
        results = [chord_metrics(pred, times, intervals, labels)
                   for pred, times, intervals, labels in zip(predictions, token_times, reference_intervals,
                                                             reference_labels)]
        return aggregate(results, weight="duration" if weighting == "duration" else None)
