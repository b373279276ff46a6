"""Intent classifier component: a fine-tuned Hugging Face encoder with calibrated confidence.

    >>> clf = IntentClassifier("artifacts/intent-bitext")          # doctest: +SKIP
    >>> clf.run(["I want my money back"])["predictions"][0].label  # doctest: +SKIP
    'get_refund'

The model folder is the one written by ``python -m training.finetune_intent``
(see :mod:`pipeline.nlu.intent_model`: encoder weights, pooling + linear head,
tokenizer, ``config.json`` with ``id2label``) and ``calibration.json`` holding the temperature fitted on the
validation split and the out-of-scope confidence threshold chosen there.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pipeline.artifacts import read_json
from pipeline.batching import length_sorted_batches, pad_batch, tokenize
from pipeline.errors import ModelLoadError, check_param
from pipeline.hub import load_pretrained, resolve_model
from pipeline.types import IntentPrediction

logger = logging.getLogger(__name__)

CALIBRATION_FILE = "calibration.json"


def softmax(logits: Any, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` (numerically stable)."""
    if not temperature > 0:
        raise ValueError(f"The 'temperature' parameter must be a float > 0. Got {temperature!r}.")
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _batched(fn: Any, tokenizer: Any, messages: Sequence[str], batch_size: int, max_length: int, width: int) -> np.ndarray:
    """Apply ``fn(input_ids, attention_mask) -> (b, width)`` over length-sorted batches, no grad."""
    import torch

    texts = [str(m) for m in messages]
    out = np.zeros((len(texts), width), dtype=np.float32)
    if not texts:
        return out
    enc = tokenize(tokenizer, texts, truncation=True, max_length=max_length)["input_ids"]
    pad_id = tokenizer.pad_token_id or 0
    with torch.inference_mode():
        for idx in length_sorted_batches([len(ids) for ids in enc], batch_size, shuffle=False):
            input_ids, mask = pad_batch([enc[i] for i in idx], pad_id)
            out[idx] = fn(input_ids, mask).float().numpy()
    return out


def batched_logits(model: Any, tokenizer: Any, messages: Sequence[str], batch_size: int, max_length: int) -> np.ndarray:
    """Logits of an intent model over messages, shape (n, num_labels)."""
    return _batched(lambda ids, mask: model(input_ids=ids, attention_mask=mask).logits, tokenizer, messages,
                    batch_size, max_length, model.config.num_labels)


def embed_texts(model: Any, tokenizer: Any, messages: Sequence[str], batch_size: int, max_length: int) -> np.ndarray:
    """Pooled sentence embeddings of an :class:`~pipeline.nlu.intent_model.IntentModel`, shape (n, hidden)."""
    return _batched(model.embed, tokenizer, messages, batch_size, max_length, model.config.hidden_size)


def embed_and_logits(model: Any, tokenizer: Any, messages: Sequence[str], batch_size: int, max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Both from one pass of an IntentModel (its head reads the pooled embedding): ``(n, hidden)``, ``(n, labels)``."""
    import torch

    def both(ids: Any, mask: Any) -> Any:
        emb = model.embed(ids, mask)
        return torch.cat([emb, model.classifier(emb)], dim=-1)

    hidden = model.config.hidden_size
    out = _batched(both, tokenizer, messages, batch_size, max_length, hidden + model.config.num_labels)
    return out[:, :hidden], out[:, hidden:]


class IntentClassifier:
    """Classify batches of messages into intents.

    Parameters are stored unchanged; the model is loaded by :meth:`warm_up`
    (called on first use). ``run`` returns ``{"predictions": [IntentPrediction]}``
    and, with ``return_probs=True``, the calibrated ``"probabilities"`` matrix.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        top_k: int = 3,
        batch_size: int = 64,
        max_length: int = 128,
        num_threads: int | None = None,
        runtime: str = "torch",
        oos_confident: float | None = None,
    ) -> None:
        check_param("IntentClassifier", "top_k", top_k, isinstance(top_k, int) and top_k >= 1, "an int >= 1")
        check_param("IntentClassifier", "batch_size", batch_size, isinstance(batch_size, int) and batch_size >= 1, "an int >= 1")
        check_param("IntentClassifier", "max_length", max_length, isinstance(max_length, int) and max_length >= 8, "an int >= 8")
        self.model = str(model)
        self.top_k = top_k
        self.batch_size = batch_size
        self.max_length = max_length
        self.num_threads = num_threads
        self.runtime = runtime  # requested: auto | onnx-int8 | onnx | torch (pipeline.onnx_runtime)
        self.oos_confident = oos_confident  # a confidence this high skips the nearest-neighbour test
        self.runtime_used: str | None = None  # what warm_up chose
        self._model: Any = None
        self._tokenizer: Any = None
        self.labels: list[str] = []
        self.temperature: float = 1.0
        self.threshold: float | None = None
        self.calibration: dict[str, Any] = {}
        self.oos_index: tuple[np.ndarray, np.ndarray] | None = None  # training embeddings and labels (pipeline.nlu.oos)
        self.oos_threshold: float | None = None
        self.oos_k: int = 1

    def warm_up(self) -> None:
        """Load tokenizer, weights and calibration once."""
        if self._model is not None:
            return
        ref = resolve_model(self.model, what="intent model")  # a missing folder fails before heavy imports
        runtime = self._choose_runtime(ref)
        if runtime != "torch":
            self._warm_up_onnx(ref, runtime)
            return
        from transformers import AutoTokenizer

        from pipeline.nlu.intent_model import load_intent_model
        from pipeline.utils import set_torch_threads

        set_torch_threads(self.num_threads)
        tokenizer = load_pretrained(AutoTokenizer.from_pretrained, ref, what="intent model tokenizer")
        model = load_intent_model(ref, load_pretrained)
        labels = self._intent_names(getattr(model.config, "id2label", None) or {})
        self._load_calibration(ref, model)
        model.eval()
        self.labels = labels
        self._tokenizer = tokenizer
        self._model = model
        self.runtime_used = "torch"
        logger.info("Loaded intent model %s (%d intents, T=%.3f)", self.model, len(labels), self.temperature)

    def _intent_names(self, id2label: dict) -> list[str]:
        labels = [str(id2label[i]) for i in sorted(id2label, key=int)]
        if not labels or all(lbl.startswith("LABEL_") for lbl in labels):
            raise ModelLoadError(
                f"The intent model {self.model!r} has no intent names in config.json (id2label). "
                "Train it with 'python -m training.finetune_intent' or pass a fine-tuned model folder."
            )
        return labels

    def _choose_runtime(self, ref: Any) -> str:
        from pipeline.onnx_runtime import ONNX_DIR, choose_runtime, weights_stamp

        if self.runtime == "torch" or not ref.local:
            return choose_runtime("torch" if not ref.local and self.runtime == "auto" else self.runtime, None, "intent model")
        return choose_runtime(self.runtime, Path(ref.source) / ONNX_DIR, "intent model", weights=weights_stamp(Path(ref.source)))

    def _warm_up_onnx(self, ref: Any, runtime: str) -> None:
        from pipeline.onnx_runtime import ONNX_DIR, OnnxEncoder

        folder = Path(ref.source)
        try:
            id2label = read_json(folder / "config.json").get("id2label") or {}
        except (OSError, ValueError):
            raise ModelLoadError(f"{folder / 'config.json'} is missing or not valid JSON. Retrain the model or copy it again.") from None
        labels = self._intent_names(id2label)
        onnx = OnnxEncoder(folder / ONNX_DIR, runtime, max_length=self.max_length, batch_size=self.batch_size,
                           num_threads=self.num_threads)
        onnx.warm_up()
        self._load_calibration(ref, onnx)
        self.labels = labels
        self._model = onnx
        self.runtime_used = runtime
        logger.info("Loaded intent model %s (%d intents, T=%.3f, %s)", self.model, len(labels), self.temperature, runtime)

    def _load_calibration(self, ref: Any, model: Any) -> None:
        calibration_path = Path(ref.source) / CALIBRATION_FILE
        if ref.local and calibration_path.is_file():
            try:
                self.calibration = read_json(calibration_path)
            except ValueError:
                raise ModelLoadError(
                    f"{calibration_path} is not valid JSON: retrain the model or delete the file to use raw probabilities."
                ) from None
            self.temperature = float(self.calibration.get("temperature", 1.0))
            threshold = self.calibration.get("threshold")
            self.threshold = float(threshold) if threshold is not None else None
            self._load_oos(Path(ref.source), model)
        else:
            logger.warning("No %s beside the intent model: confidences are uncalibrated and there is no out-of-scope threshold.", CALIBRATION_FILE)

    def _load_oos(self, folder: Path, model: Any) -> None:
        """The out-of-scope index and its threshold, when the calibration names them and the model can embed."""
        from pipeline.nlu.oos import load_index

        oos = self.calibration.get("oos") or {}
        embeds = hasattr(model, "embed") or "embedding" in getattr(model, "report", {}).get("outputs", {})
        if oos.get("method") != "knn" or not embeds:
            return
        self.oos_index = load_index(folder)
        if self.oos_index is None:
            logger.warning("%s names a nearest-neighbour out-of-scope rule but the index is missing: only the "
                           "confidence threshold applies. Retrain the model to rebuild it.", CALIBRATION_FILE)
            return
        self.oos_threshold, self.oos_k = float(oos["threshold"]), int(oos.get("k", 1))

    def decide(self, confidence: float, oos_score: float | None, threshold: float | None = None) -> bool:
        """The in-scope decision: the confidence reaches the threshold, and the message is near enough to the
        training messages (when the model has an out-of-scope index) or its confidence reaches ``oos_confident``."""
        cut = self.threshold if threshold is None else threshold
        near_enough = (oos_score is None or self.oos_threshold is None or oos_score >= self.oos_threshold
                       or (self.oos_confident is not None and confidence >= self.oos_confident))
        return (cut is None or confidence >= cut) and near_enough

    def scores(self, messages: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """Calibrated probabilities and, with an out-of-scope index, each message's nearest-neighbour score."""
        self.warm_up()
        if self.runtime_used != "torch":
            out = self._model.run(messages)
            knn = None
            if self.oos_index is not None:
                from pipeline.nlu.oos import knn_score

                knn = knn_score(out["embedding"], self.oos_index[0], self.oos_k)
            return softmax(out["logits"], self.temperature), knn
        if self.oos_index is None:
            return softmax(self.logits(messages), self.temperature), None
        from pipeline.nlu.oos import knn_score

        emb, logits = embed_and_logits(self._model, self._tokenizer, messages, self.batch_size, self.max_length)
        return softmax(logits, self.temperature), knn_score(emb, self.oos_index[0], self.oos_k)

    def logits(self, messages: Sequence[str]) -> np.ndarray:
        """Raw (uncalibrated) logits, shape (n, n_labels); batched and length-sorted."""
        self.warm_up()
        if self.runtime_used != "torch":
            return self._model.run(messages)["logits"]
        return batched_logits(self._model, self._tokenizer, messages, self.batch_size, self.max_length)

    def predict_proba(self, messages: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities (temperature applied), shape (n, n_labels)."""
        return softmax(self.logits(messages), self.temperature)

    def run(self, messages: Sequence[str], top_k: int | None = None, return_probs: bool = False,
            threshold: float | None = None) -> dict[str, Any]:
        """Predict intents: ``{"predictions": [IntentPrediction, ...]}`` (+ ``"probabilities"``).

        This is the one in-scope decision: a prediction is in scope when its confidence reaches ``threshold``,
        by default the one stored with the model (no threshold: always in scope).
        """
        k = self.top_k if top_k is None else top_k
        check_param("IntentClassifier", "top_k", k, isinstance(k, int) and k >= 1, "an int >= 1")
        probs, knn = self.scores(messages)
        cut = self.threshold if threshold is None else threshold
        predictions: list[IntentPrediction] = []
        for i, row in enumerate(probs):
            top = np.argsort(-row, kind="stable")[: min(k, len(self.labels))]
            best = int(top[0])
            confidence = min(float(row[best]), 1.0)
            near = None if knn is None else float(knn[i])
            in_scope = self.decide(confidence, near, cut)
            ranking = [(self.labels[int(j)], float(row[int(j)])) for j in top]
            predictions.append(IntentPrediction(self.labels[best], confidence, ranking, in_scope, oos_score=near))
        result: dict[str, Any] = {"predictions": predictions}
        if return_probs:
            result["probabilities"] = probs
        return result
