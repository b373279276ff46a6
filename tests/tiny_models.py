"""Tiny randomly initialised model folders built locally, so tests cover real code paths offline.

``make_tiny_t5(path, texts)`` stands in for ``google/flan-t5-base`` and
``make_tiny_distilbert(path, texts)`` for ``distilbert-base-uncased``: the same
model classes and tokenizer classes, a tokenizer trained in a second on the
given sentences with the ``tokenizers`` library, a few thousand random weights,
written with ``save_pretrained`` so that ``AutoModel*.from_pretrained(folder)``
loads them like a downloaded checkpoint.

    from tests.tiny_models import make_tiny_t5
    folder = make_tiny_t5(tmp_path / "t5", ["I want a refund for order 12345"])
"""
from __future__ import annotations

import string
from pathlib import Path
from typing import Iterable

_ALPHABET = list(string.ascii_letters + string.digits + string.punctuation)

_DEFAULT_TEXTS = (
    "I want a refund for order 12345.",
    "Refunds are issued within 5-7 business days to the original payment method.",
    "How do I cancel my order? You can cancel it from your account page.",
    "Customer: where is my package? Reply: you can track your order online.",
    "Intent: get_refund. Policy: returns are accepted within 30 days of delivery.",
)


def _corpus(texts: Iterable[str]) -> list[str]:
    corpus = [t for t in texts if t and t.strip()]
    return corpus + list(_DEFAULT_TEXTS)


def make_tiny_t5(path: str | Path, texts: Iterable[str] = (), *, vocab_size: int = 300, seed: int = 0) -> Path:
    """Write a tiny random ``T5ForConditionalGeneration`` + Unigram ``T5Tokenizer`` to ``path``."""
    import json

    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import T5Config, T5ForConditionalGeneration, T5Tokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    raw = Tokenizer(models.Unigram())
    raw.pre_tokenizer = pre_tokenizers.Metaspace()
    raw.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>",
        initial_alphabet=_ALPHABET, show_progress=False,
    )
    raw.train_from_iterator(_corpus(texts), trainer)
    vocab = [(str(piece), float(score)) for piece, score in json.loads(raw.to_str())["model"]["vocab"]]
    tokenizer = T5Tokenizer(vocab=vocab, extra_ids=0)
    tokenizer.save_pretrained(path)

    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
        num_heads=4, relative_attention_num_buckets=8, relative_attention_max_distance=32,
        dropout_rate=0.0, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    T5ForConditionalGeneration(config).save_pretrained(path)
    return path


def make_tiny_distilbert(
    path: str | Path, texts: Iterable[str] = (), *, vocab_size: int = 300, num_labels: int = 2, seed: int = 0
) -> Path:
    """Write a tiny random DistilBERT (2 layers) + WordPiece ``DistilBertTokenizer`` to ``path``.

    The head is left to the caller: load it with
    ``AutoModelForSequenceClassification.from_pretrained(path, num_labels=...)``.
    """
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import DistilBertConfig, DistilBertModel, DistilBertTokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    raw = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    raw.normalizer = normalizers.BertNormalizer(lowercase=True)
    raw.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=[c.lower() for c in _ALPHABET],
        show_progress=False,
    )
    raw.train_from_iterator(_corpus(texts), trainer)
    tokenizer = DistilBertTokenizer(vocab=dict(raw.get_vocab()), do_lower_case=True)
    tokenizer.save_pretrained(path)

    torch.manual_seed(seed)
    config = DistilBertConfig(
        vocab_size=len(tokenizer), dim=32, hidden_dim=64, n_layers=2, n_heads=2, max_position_embeddings=128,
        dropout=0.0, attention_dropout=0.0, pad_token_id=tokenizer.pad_token_id, num_labels=num_labels,
    )
    DistilBertModel(config).save_pretrained(path)
    return path


def make_tiny_intent_model(path: str | Path, labels: list[str], texts: Iterable[str] = ()) -> Path:
    """A tiny random DistilBERT saved as an ``AutoModelForSequenceClassification`` intent model for ``labels``.

    No ``calibration.json``: confidences are raw and there is no out-of-scope threshold.
    """
    from transformers import AutoModelForSequenceClassification

    folder = make_tiny_distilbert(path, texts or ["I want a refund", "where is my order"])
    model = AutoModelForSequenceClassification.from_pretrained(
        folder, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={k: i for i, k in enumerate(labels)})
    model.save_pretrained(folder)
    return folder


def _wordpiece_vocab(texts: Iterable[str], vocab_size: int) -> dict[str, int]:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    raw = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    raw.normalizer = normalizers.BertNormalizer(lowercase=True)
    raw.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
                                        initial_alphabet=[c.lower() for c in _ALPHABET], show_progress=False)
    raw.train_from_iterator(_corpus(texts), trainer)
    return dict(raw.get_vocab())


def make_tiny_bert(path: str | Path, texts: Iterable[str] = (), *, vocab_size: int = 300, seed: int = 0) -> Path:
    """A tiny random ``BertModel`` + WordPiece tokenizer: stands in for the packaged all-MiniLM-L6-v2 (a BERT)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizer(vocab=_wordpiece_vocab(texts, vocab_size), do_lower_case=True)
    tokenizer.save_pretrained(path)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=256, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0, pad_token_id=tokenizer.pad_token_id)
    BertModel(config).save_pretrained(path)
    return path


def make_tiny_bart(path: str | Path, texts: Iterable[str] = (), *, vocab_size: int = 400, seed: int = 0) -> Path:
    """A tiny random ``BartForConditionalGeneration`` + byte-level BPE tokenizer: stands in for facebook/bart-large-cnn."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import BartConfig, BartForConditionalGeneration, PreTrainedTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    raw = ByteLevelBPETokenizer()
    raw.train_from_iterator(_corpus(texts), vocab_size=vocab_size, special_tokens=specials, show_progress=False)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                        unk_token="<unk>", mask_token="<mask>")
    tokenizer.save_pretrained(path)
    torch.manual_seed(seed)
    config = BartConfig(vocab_size=len(tokenizer), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=512,
                        dropout=0.0, attention_dropout=0.0, pad_token_id=tokenizer.pad_token_id,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                        decoder_start_token_id=tokenizer.eos_token_id, forced_eos_token_id=tokenizer.eos_token_id)
    BartForConditionalGeneration(config).save_pretrained(path)
    return path
