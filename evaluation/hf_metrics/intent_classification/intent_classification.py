"""Intent accuracy and macro-F1 as a Hugging Face ``evaluate`` metric module, shipped inside the package.

    import evaluate
    from evaluation.hf_metrics import metric_path
    evaluate.load(metric_path("intent_classification")).compute(predictions=["a", "b"], references=["a", "a"])
    # {'accuracy': 0.5, 'macro_f1': 0.333...}

Labels are strings (intent names). Macro-F1 averages over the labels that occur in the references or the
predictions, as ``sklearn.metrics.f1_score(average="macro")`` does, which ``evaluation.metrics`` uses too.
"""
import datasets
import evaluate
from sklearn.metrics import accuracy_score, f1_score

_DESCRIPTION = "Accuracy and macro-averaged F1 of predicted intent labels."
_KWARGS = "predictions: list of str (predicted intents). references: list of str (gold intents)."


class IntentClassification(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references):
        return {"accuracy": float(accuracy_score(references, predictions)),
                "macro_f1": float(f1_score(references, predictions, average="macro", zero_division=0))}
