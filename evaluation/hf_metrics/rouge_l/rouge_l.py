"""ROUGE-L as a Hugging Face ``evaluate`` metric module, shipped inside the package (no Hub access).

    import evaluate
    from evaluation.hf_metrics import metric_path
    rouge = evaluate.load(metric_path("rouge_l"))
    rouge.compute(predictions=["the refund takes five days"], references=["refunds take five days"])
    # {'rougeL_p': ..., 'rougeL_r': ..., 'rougeL_f': ...}; use_aggregator=False gives one value per example

A wrapper of the ``rouge-score`` package (Lin 2004, longest common subsequence; Porter stemming), the scorer
``evaluation.generation`` and ``training.finetune_generator`` report with.
"""
import datasets
import evaluate
from rouge_score import rouge_scorer

_DESCRIPTION = "ROUGE-L precision, recall and F1 of each prediction against its reference (rouge-score, stemmed)."
_KWARGS = """
predictions: list of str. references: list of str, one per prediction.
use_aggregator: bool (default True): the means; False: one value per example.
Returns: rougeL_p, rougeL_r, rougeL_f.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class RougeL(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="Lin, C.-Y. (2004). ROUGE: A Package for Automatic Evaluation of Summaries.",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
            reference_urls=["https://pypi.org/project/rouge-score/"],
        )

    def _compute(self, predictions, references, use_aggregator=True):
        scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
        scores = [scorer.score(ref, pred)["rougeL"] for pred, ref in zip(predictions, references)]
        out = {"rougeL_p": [s.precision for s in scores], "rougeL_r": [s.recall for s in scores],
               "rougeL_f": [s.fmeasure for s in scores]}
        if use_aggregator:
            return {k: (sum(v) / len(v) if v else 0.0) for k, v in out.items()}
        return out
