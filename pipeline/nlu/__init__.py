"""NLU stage: the intent classifier, entity patterns, the learned slot tagger, and the stage component.

- :mod:`pipeline.nlu.classifier`: :class:`IntentClassifier` (calibrated confidence, out-of-scope threshold)
- :mod:`pipeline.nlu.intent_model`: the encoder + pooling + linear head model and its folder format
- :mod:`pipeline.nlu.entities`: pattern extraction of order/invoice numbers, emails, phones, amounts, dates
- :mod:`pipeline.nlu.slots`, :mod:`pipeline.nlu.slot_model`: the fine-tuned slot tagger (learned entities)
- :mod:`pipeline.nlu.bootstrap`: the default intent model, trained on first use
"""
from pipeline.nlu.classifier import IntentClassifier  # noqa: F401  (the documented import path)
