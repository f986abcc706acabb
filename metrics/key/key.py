"""Global key scores (accuracy and mir_eval's MIREX weighted score) as an `evaluate` metric:
`evaluate.load("metrics/key")`.

Needs the `vit1d` package installed (`pip install vit1d`, or `pip install -e .` in this repository): `evaluate` copies
this script into its module cache, so it imports the scoring code from the installed package.
"""

import datasets
import evaluate

from vit1d.probing.metrics import MIR_EVAL_CITATION, key_metrics

_DESCRIPTION = """\
Key estimation scores over tracks: accuracy and the MIREX weighted score (mean of mir_eval.key.weighted_score: 1 for
the same key, 0.5 for an estimate a fifth above, 0.3 for the relative key, 0.2 for the parallel key, 0 otherwise),
and the fraction of tracks in each of these relations. Enharmonic keys are equal ("Db major" == "C# major").
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: estimated keys, as strings ("Eb minor", "eb min", "D# minor", "Am", "none") or as class indices of
        `vit1d.probing.labels.key_vocabulary` (0-11 major C..B, 12-23 minor, 24 no key).
    references: reference keys, in the same form as the predictions.
Returns:
    "accuracy", "weighted_score", "correct", "fifth", "relative", "parallel", "other".
Example:
    >>> key = evaluate.load("metrics/key")
    >>> key.compute(predictions=["G major", "C major"], references=["C major", "C major"])["weighted_score"]
    0.75
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Key(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=MIR_EVAL_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[  # key strings, or class indices
                datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
                datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
            ],
            reference_urls=["https://mir-eval.readthedocs.io/latest/api/key.html"],
        )

    def _compute(self, predictions, references):
        return key_metrics(predictions, references)
