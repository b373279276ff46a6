"""An encoder-decoder warm-started from one pretrained encoder (Rothe, Narayan & Severyn, TACL 2020: BERT2BERT).

    from training.warm_start import is_seq2seq, warm_start
    model = warm_start(ref, tokenizer)     # ref: pipeline.hub.ModelRef of a BERT-style encoder

Both halves start from the encoder's weights (``EncoderDecoderModel.from_encoder_decoder_pretrained``): the decoder
is the same stack with causal self-attention and freshly initialised cross-attention, and its output layer (the
masked-language-model head of BERT, tied to the word embeddings) predicts the next token. The two halves keep
separate weights: with transformers 5, ``tie_encoder_decoder=True`` no longer shares them (checked: the
parameters stay distinct tensors), and sharing by hand would need the safetensors writer to know the ties. The
paper's BERT2BERT-share is the smaller variant of the two, not the better one on most tasks. The special tokens come
from the encoder's tokenizer: the decoder starts from ``[CLS]``, stops at ``[SEP]`` and pads with ``[PAD]``.
The result saves and loads as any seq2seq folder (``AutoModelForSeq2SeqLM`` reads ``model_type: encoder-decoder``).
"""
from __future__ import annotations

import logging
import warnings
from typing import Any

from pipeline.errors import ModelLoadError
from pipeline.hub import ModelRef, load_pretrained

logger = logging.getLogger(__name__)

# EncoderDecoderModel computes the loss itself and warns on every training step that it does (since v4.12.0).
warnings.filterwarnings("ignore", message=r"Version v4\.12\.0 introduces a better way to train encoder-decoder", category=FutureWarning)


def is_seq2seq(ref: ModelRef) -> bool:
    """Whether ``ref`` is already an encoder-decoder checkpoint (T5, BART, a saved warm start), from its config."""
    from transformers import AutoConfig

    config = load_pretrained(AutoConfig.from_pretrained, ref, what="model config")
    return bool(getattr(config, "is_encoder_decoder", False))


def warm_start(ref: ModelRef, tokenizer: Any) -> Any:
    """A new ``EncoderDecoderModel`` whose encoder and decoder both start from the encoder ``ref``."""
    from transformers import EncoderDecoderModel

    start, end, pad = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    if start is None or end is None or pad is None:
        raise ModelLoadError(f"The tokenizer of {ref.name} has no [CLS], [SEP] or [PAD] token, so it cannot start and "
                             "stop a decoder. Warm-start from a BERT-style encoder, or pass a seq2seq checkpoint.")

    def build(source: str, **kwargs: Any) -> Any:
        return EncoderDecoderModel.from_encoder_decoder_pretrained(source, source, encoder_local_files_only=kwargs.get("local_files_only", False),
                                                                   decoder_local_files_only=kwargs.get("local_files_only", False))

    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # its load report lists every cross-attention weight as missing: expected here
    try:
        model = load_pretrained(build, ref, what="encoder to warm-start from")
    finally:
        hf_logging.set_verbosity(verbosity)
    for config in (model.config, model.generation_config):
        config.decoder_start_token_id, config.eos_token_id, config.pad_token_id = start, end, pad
    model.config.vocab_size = model.config.decoder.vocab_size
    model.generation_config.bos_token_id = start
    logger.info("Warm-started an encoder-decoder from %s (%.1fM parameters)", ref.name,
                sum(p.numel() for p in model.parameters()) / 1e6)
    return model
