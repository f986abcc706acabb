"""Beat tracking scores (mir_eval.beat) as an `evaluate` metric: `evaluate.load("metrics/beat")`.

Needs the `vit1d` package installed (`pip install vit1d`, or `pip install -e .` in this repository): `evaluate` copies
this script into its module cache, so it imports the scoring code from the installed package.
"""

import datasets
import evaluate

from vit1d.probing.metrics import (
    DEFAULT_TRIM_FIRST_SECONDS,
    F_MEASURE_WINDOW,
    MIR_EVAL_CITATION,
    aggregate,
    beat_metrics,
)

_DESCRIPTION = """\
Beat tracking scores of mir_eval.beat for each track, averaged over tracks: F-measure (70 ms window), Cemgil, Goto,
P-score, CMLc, CMLt, AMLc, AMLt and Information gain. Turn a frame-wise beat activation into beat times first, e.g.
with `vit1d.probing.metrics.decode_beats(activation, token_times)`.

Convention: `trim_first_seconds` defaults to 0.0 (every beat is scored, as in MARBLE); mir_eval's own `evaluate`
trims the first 5 s, pass `trim_first_seconds=5.0` for that.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: list of estimated beat times per track, in seconds.
    references: list of reference beat times per track, in seconds.
    trim_first_seconds: beats before this time are not scored (default 0.0).
    f_measure_window: half-width of the F-measure window in seconds (default 0.07).
Returns:
    The mean over tracks of each mir_eval.beat score ("F-measure", "Cemgil", ...), and "num_tracks".
Example:
    >>> beat = evaluate.load("metrics/beat")
    >>> beat.compute(predictions=[[0.5, 1.0, 1.5]], references=[[0.5, 1.0, 1.52]])["F-measure"]
    1.0
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Beat(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=MIR_EVAL_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({
                "predictions": datasets.Sequence(datasets.Value("float64")),
                "references": datasets.Sequence(datasets.Value("float64")),
            }),
            reference_urls=["https://mir-eval.readthedocs.io/latest/api/beat.html"],
        )

    def _compute(self, predictions, references, trim_first_seconds=DEFAULT_TRIM_FIRST_SECONDS,
                 f_measure_window=F_MEASURE_WINDOW):
        return aggregate([beat_metrics(est, ref, trim_first_seconds, f_measure_window)
                          for est, ref in zip(predictions, references)])
