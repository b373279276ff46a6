"""Classical intent classifiers: a sentence featuriser with logistic regression on top.

    from training.baselines import BaselineClassifier, select_c
    from training.text_features import BowFeaturizer
    clf = BaselineClassifier(featurizer=BowFeaturizer(kind="tfidf"), C=10.0).fit(train_texts, train_labels)
    clf.predict(["I still have not received my card"]); clf.predict_proba([...])
    clf.save("artifacts/baselines/tfidf-banking77"); BaselineClassifier.load("artifacts/baselines/tfidf-banking77")

    # C chosen on the validation split only (macro-F1, ties to the smaller C), model fitted on train:
    clf, report = select_c(BowFeaturizer(kind="tfidf"), data.train, data.validation, grid=(0.01, 0.1, 1, 10, 100))

The featuriser is any object of :mod:`training.text_features` or
:mod:`training.wordvec_features`. Logistic regression is scikit-learn's
(L2, lbfgs, multinomial); with ``standardize=True`` (dense features) each
feature is first centred and scaled by its training mean and standard
deviation. After ``fit`` only ``coef_``, ``intercept_``, ``classes_`` (and
``mean_``, ``scale_``) are kept and probabilities are the softmax of
``X @ coef_.T + intercept_`` (the logistic for two classes), exactly
scikit-learn's, so a saved model needs no pickle. A saved model is a folder: ``config.json``
(settings, featuriser settings and vocabulary/idf), ``model.safetensors``
(coefficients and featuriser arrays), ``labels.json``, ``metrics.json`` when
given and a ``README.md`` model card. A word-vector featuriser records the
path of its vectors, which must still be there at load time.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy import sparse

from pipeline.artifacts import atomic_dir, load_safetensors, read_json, write_json, write_model_card
from pipeline.errors import ConfigError, ModelLoadError, NotFittedError, check_param

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
DEFAULT_C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)


def featurizer_classes() -> dict[str, type]:
    from training.text_features import BowFeaturizer, LsaFeaturizer
    from training.wordvec_features import WordVectorFeaturizer

    return {cls.__name__: cls for cls in (BowFeaturizer, LsaFeaturizer, WordVectorFeaturizer)}


def softmax_proba(scores: np.ndarray) -> np.ndarray:
    """Class probabilities from decision scores: softmax over columns, the logistic for one column."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape[1] == 1:
        p = 1.0 / (1.0 + np.exp(-scores[:, 0]))
        return np.column_stack([1.0 - p, p])
    from pipeline.nlu.classifier import softmax

    return softmax(scores)


class BaselineClassifier:
    """Featuriser + multinomial logistic regression (see the module docstring)."""

    def __init__(self, *, featurizer: Any = None, C: float = 1.0, standardize: bool = False, max_iter: int = 2000,
                 seed: int = 42) -> None:
        self.featurizer = featurizer
        self.C = C
        self.standardize = standardize
        self.max_iter = max_iter
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {"C": self.C, "standardize": self.standardize, "max_iter": self.max_iter, "seed": self.seed}

    def _validate(self) -> None:
        name = type(self).__name__
        check_param(name, "featurizer", self.featurizer, hasattr(self.featurizer, "fit") and
                    hasattr(self.featurizer, "transform"), "a featuriser with fit and transform")
        check_param(name, "C", self.C, isinstance(self.C, (int, float)) and self.C > 0, "a float > 0")
        check_param(name, "max_iter", self.max_iter, isinstance(self.max_iter, int) and self.max_iter >= 1, "an int >= 1")

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> "BaselineClassifier":
        """Fit the featuriser on ``texts``, then logistic regression on its features."""
        self._validate()
        if len(texts) != len(labels):
            raise ConfigError(f"fit needs as many labels as texts. Got {len(texts)} texts and {len(labels)} labels.")
        return self.fit_features(self.featurizer.fit(texts).transform(texts), labels)

    def _scaled(self, features: Any) -> Any:
        if not self.standardize:
            return features
        if sparse.issparse(features):
            raise ConfigError("standardize=True needs dense features (word vectors, LSA); bag-of-words features are "
                              "sparse. Pass standardize=False.")
        return (np.asarray(features, dtype=np.float32) - self.mean_) / self.scale_

    def fit_features(self, features: Any, labels: Sequence[str]) -> "BaselineClassifier":
        """Fit logistic regression on features from the (already fitted) featuriser.

        With ``standardize`` each feature is centred and scaled by its training
        mean and standard deviation (kept as ``mean_``, ``scale_``).
        """
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        self._validate()
        labels = [str(label) for label in labels]
        if len(set(labels)) < 2:
            raise ConfigError(f"A classifier needs at least 2 distinct labels. Got {sorted(set(labels))}.")
        if self.standardize and not sparse.issparse(features):
            dense = np.asarray(features, dtype=np.float64)
            std = dense.std(axis=0)
            self.mean_ = dense.mean(axis=0).astype(np.float32)
            self.scale_ = np.where(std > 1e-8, std, 1.0).astype(np.float32)  # a constant feature: as StandardScaler
        features = self._scaled(features)
        model = LogisticRegression(C=float(self.C), max_iter=self.max_iter, random_state=self.seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(features, labels)
        self.converged_ = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        if not self.converged_:
            logger.warning("Logistic regression (C=%g) did not converge in %d iterations.", self.C, self.max_iter)
        self.coef_ = np.ascontiguousarray(model.coef_, dtype=np.float32)  # safetensors writes the raw buffer
        self.intercept_ = np.ascontiguousarray(model.intercept_, dtype=np.float32)
        self.classes_ = [str(c) for c in model.classes_]
        return self

    def _check_fitted(self) -> None:
        if getattr(self, "coef_", None) is None:
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' first.")

    def decision_function(self, texts: Sequence[str], *, features: Any = None) -> np.ndarray:
        self._check_fitted()
        x = self._scaled(self.featurizer.transform(texts) if features is None else features)
        return np.asarray(x @ self.coef_.T, dtype=np.float64) + self.intercept_

    def predict_proba(self, texts: Sequence[str], *, features: Any = None) -> np.ndarray:
        """``(n, n_classes)`` probabilities, columns in ``classes_`` order."""
        return softmax_proba(self.decision_function(texts, features=features))

    def predict(self, texts: Sequence[str], *, features: Any = None) -> list[str]:
        scores = self.decision_function(texts, features=features)
        best = (scores[:, 0] > 0).astype(int) if scores.shape[1] == 1 else scores.argmax(axis=1)
        return [self.classes_[i] for i in best]

    # ----- persistence ------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], *, metrics: dict[str, Any] | None = None,
             data: dict[str, Any] | None = None) -> Path:
        """Write the model folder atomically (see the module docstring)."""
        from safetensors.numpy import save_file

        self._check_fitted()
        state, arrays = self.featurizer.get_state()
        feat = {"class": type(self.featurizer).__name__, "params": self.featurizer.get_params(), "state": state}
        scaler = {"mean": self.mean_, "scale": self.scale_} if self.standardize else {}
        tensors = {"coef": np.ascontiguousarray(self.coef_), "intercept": np.ascontiguousarray(self.intercept_),
                   **{k: np.ascontiguousarray(v) for k, v in scaler.items()},
                   **{f"featurizer.{k}": np.ascontiguousarray(v) for k, v in arrays.items()}}
        config = {"class": type(self).__name__, "format_version": FORMAT_VERSION, "params": self.get_params(),
                  "featurizer": feat}
        with atomic_dir(path) as tmp:
            save_file(tensors, str(tmp / "model.safetensors"))
            write_json(tmp / "config.json", config)
            write_json(tmp / "labels.json", self.classes_)
            if metrics:
                write_json(tmp / "metrics.json", metrics)
            write_model_card(
                tmp, title=f"{feat['class']} + logistic regression",
                summary=f"Intent classifier: {feat['class']} {feat['params']} features, multinomial logistic "
                        f"regression (C={self.C:g}), {len(self.classes_)} intents.",
                data={"intents": len(self.classes_), "features": int(self.coef_.shape[1]), **(data or {})},
                metrics=metrics or {}, config=self.get_params(),
                usage=f"```python\nfrom training.baselines import BaselineClassifier\n"
                      f"clf = BaselineClassifier.load({str(Path(path))!r})\nclf.predict(['cancel my order'])\n```")
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "BaselineClassifier":
        folder = Path(path)
        missing = [n for n in ("config.json", "model.safetensors", "labels.json") if not (folder / n).is_file()]
        if missing:
            raise ModelLoadError(f"{str(folder)!r} is not a saved baseline classifier (missing {', '.join(missing)}). "
                                 "Pass a folder written by BaselineClassifier.save().")
        config = read_json(folder / "config.json")
        feat = config.get("featurizer", {})
        classes = featurizer_classes()
        if feat.get("class") not in classes:
            raise ModelLoadError(f"{str(folder)!r} names featuriser {feat.get('class')!r}; known: {', '.join(classes)}.")
        tensors = load_safetensors(folder / "model.safetensors", fix="The folder may be truncated or corrupt: "
                                   "train and save the classifier again.")
        arrays = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith("featurizer.")}
        featurizer = classes[feat["class"]].from_state(feat["params"], feat["state"], arrays)
        model = cls(featurizer=featurizer, **config["params"])
        model.coef_, model.intercept_ = tensors["coef"], tensors["intercept"]
        if model.standardize:
            model.mean_, model.scale_ = tensors["mean"], tensors["scale"]
        model.classes_ = list(read_json(folder / "labels.json"))
        return model


# ----------------------------------------------------------------------------------------------
# Choosing C on the validation split
# ----------------------------------------------------------------------------------------------

@dataclass
class SelectionReport:
    """What :func:`select_c` tried: validation macro-F1 and accuracy per C, the choice and its timings."""

    best_c: float
    validation: dict[str, dict[str, float]] = field(default_factory=dict)  # str(C) -> {"macro_f1", "accuracy", "seconds"}
    featurize_seconds: float = 0.0  # fit the featuriser + transform train (and validation)
    fit_seconds: float = 0.0        # featuriser on train + logistic regression at the chosen C
    search_seconds: float = 0.0     # the whole selection
    n_features: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"best_c": self.best_c, "validation": self.validation, "featurize_seconds": self.featurize_seconds,
                "fit_seconds": self.fit_seconds, "search_seconds": self.search_seconds, "n_features": self.n_features}


def select_c(featurizer: Any, train: Any, validation: Any, *, grid: Sequence[float] = DEFAULT_C_GRID,
             standardize: bool | None = None, seed: int = 42,
             max_iter: int = 2000) -> tuple[BaselineClassifier, SelectionReport]:
    """Fit the featuriser on ``train`` (``.texts``, ``.labels``) and logistic regression for every C in
    ``grid`` (each from scratch); return the model with the best validation macro-F1 (ties: the smaller C).

    ``fit_seconds`` is what one fit of the returned model costs (featuriser on
    train + its logistic regression). ``standardize=None`` standardises dense
    features (word vectors, LSA) and leaves sparse ones (bag of words) as they
    are. The test split is never seen. (Warm starts along the grid were tried
    and dropped: lbfgs stops at once when started from the optimum of a smaller
    C, since the gradient is already under its tolerance.)
    """
    from evaluation.metrics import accuracy, macro_f1

    grid = sorted(float(c) for c in grid)
    check_param("select_c", "grid", grid, bool(grid) and all(c > 0 for c in grid), "a non-empty list of floats > 0")
    start = time.perf_counter()
    x_train = featurizer.fit(train.texts).transform(train.texts)
    train_featurize = time.perf_counter() - start
    x_val = featurizer.transform(validation.texts)
    report = SelectionReport(best_c=grid[0], featurize_seconds=round(time.perf_counter() - start, 3),
                             n_features=int(x_train.shape[1]))
    if standardize is None:
        standardize = not sparse.issparse(x_train)
    best_f1, best = -1.0, None
    for c in grid:
        t0 = time.perf_counter()
        clf = BaselineClassifier(featurizer=featurizer, C=c, standardize=standardize, max_iter=max_iter,
                                 seed=seed).fit_features(x_train, train.labels)
        seconds = time.perf_counter() - t0
        pred = clf.predict(validation.texts, features=x_val)
        f1 = macro_f1(validation.labels, pred)
        report.validation[f"{c:g}"] = {"macro_f1": round(f1, 4), "accuracy": round(accuracy(validation.labels, pred), 4),
                                       "seconds": round(seconds, 3), "converged": clf.converged_}
        if f1 > best_f1 + 1e-12:
            best_f1, best = f1, clf
            report.best_c, report.fit_seconds = c, round(train_featurize + seconds, 3)
    report.search_seconds = round(time.perf_counter() - start, 3)
    logger.info("%s: C=%g chosen on validation (macro-F1 %.4f).", type(featurizer).__name__, report.best_c, best_f1)
    return best, report
