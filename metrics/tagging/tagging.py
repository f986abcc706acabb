"""Multi-label tagging scores (macro mAP and macro ROC-AUC, scikit-learn) as an `evaluate` metric:
`evaluate.load("metrics/tagging")`.

Needs the `vit1d` package installed (`pip install vit1d`, or `pip install -e .` in this repository) and scikit-learn:
`evaluate` copies this script into its module cache, so it imports the scoring code from the installed package.
"""

import datasets
import evaluate
import numpy as np

from vit1d.probing.metrics import SKLEARN_CITATION, tagging_metrics

_DESCRIPTION = """\
Macro-averaged average precision (mAP) and ROC-AUC of a multi-label tagger, one score per tag averaged over tags, as
in MagnaTagATune's probing protocol. Tags with no positive or no negative track among the inputs are left out of both
means and counted in "num_tags_excluded".
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: per track, the score of every tag (logits or probabilities; only their order matters).
    references: per track, the multi-hot target of every tag (1 = tag present).
Returns:
    "mAP", "ROC-AUC", "num_tags_scored", "num_tags_excluded".
Example:
    >>> tagging = evaluate.load("metrics/tagging")
    >>> tagging.compute(predictions=[[0.9, 0.2], [0.1, 0.8]], references=[[1, 0], [0, 1]])["mAP"]
    1.0
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Tagging(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=SKLEARN_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({
                "predictions": datasets.Sequence(datasets.Value("float64")),
                "references": datasets.Sequence(datasets.Value("float64")),
            }),
            reference_urls=["https://scikit-learn.org/stable/modules/model_evaluation.html#precision-recall-and-f-measures"],
        )

    def _compute(self, predictions, references):
        return tagging_metrics(np.asarray(predictions), np.asarray(references))
