"""Export an intent model or a sentence encoder to ONNX (fp32 and dynamically quantised int8), checked against torch.

    python -m pipeline.export --model artifacts/intent-bitext        # writes artifacts/intent-bitext/onnx/
    python -m pipeline.export --encoder default                      # the retrieval encoder, into the user cache

The intent graph holds the encoder, pooling, normalisation and the intent head, and outputs the pooled
``embedding`` (for the nearest-neighbour out-of-scope score) and the ``logits``; a plain
``AutoModelForSequenceClassification`` folder outputs ``logits`` only. The encoder graph outputs the mean-pooled,
L2-normalised ``embedding``, as :class:`pipeline.retrieval.embedding.SentenceEncoder` computes it.

Exporter: ``torch.onnx.export`` with the TorchScript tracer (``dynamo=False``), dynamic batch and sequence axes,
opset 17. With torch 2.13 the dynamo exporter took 12 s for MiniLM (the tracer 2.5 s), wrote the weights as external
data, and gave a graph ONNX Runtime refused to load ("Duplicate definition of name (embedding)"); optimum would add
a dependency for the same tracer. The int8 graph is ``onnxruntime.quantization.quantize_dynamic`` (the MatMul
weights to int8, per output channel; activations quantised at run time): on the bootstrap intent model, per-tensor
quantisation kept a worst cosine of 0.887 with torch's embeddings on the parity messages, per channel 0.979.

Before anything is kept, both graphs run on the parity messages (``--messages``, else a built-in list of support
messages; training passes up to 2,000 validation messages) next to the torch model: fp32 must agree on every
predicted intent with embeddings and logits within ``1e-3``; int8 is marked usable (``int8_ok``, which
``runtime: auto`` follows) when it predicts torch's intent on at least 99.5% of them and every embedding keeps a
cosine of at least 0.99 with torch's. The folder ``onnx/`` is written to a
temporary folder and renamed into place, so a failed export leaves the old one untouched.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pipeline.artifacts import atomic_dir, training_config, write_json
from pipeline.errors import CliParser, ModelLoadError, cli_main
from pipeline.onnx_runtime import GRAPHS, ONNX_DIR, REPORT, TOKENIZER, OnnxEncoder, encoder_export_dir, encoder_name, read_report, weights_stamp

logger = logging.getLogger(__name__)

OPSET = 17
FP32_TOLERANCE = 1e-3
INT8_MIN_COSINE = 0.99
INT8_MIN_AGREEMENT = 0.995  # int8 is used by runtime 'auto' only when it predicts torch's intent on >= 99.5% of the parity messages
PARITY_LIMIT = 2000  # training checks the export on up to this many validation messages
PARITY_MESSAGES = (
    "where is my order", "I want a refund for order 12345", "how do I reset my password?",
    "I was charged twice for the same order!!!", "can I talk to a person please", "do you ship to Canada",
    "my parcel arrived damaged, what now", "cancel my subscription", "I need an invoice for my company",
    "how long does a refund take?", "the app keeps logging me out", "change the delivery address of my order",
    "what payment methods do you accept", "hi", "thanks, that's all", "Is there a fee to return an item?",
    "I never received the confirmation email", "delete my account and all my data", "wrong size, can I exchange it",
    "your website is down again", "can I pay with PayPal?", "the discount code does not work",
    "I'd like to speak with your manager about order 88812", "how do I unsubscribe from the newsletter",
    "my card was declined but the money left my account", "when will my order ship",
    "Can you tell me the weather tomorrow?", "I forgot which email I used to sign up",
    "track my return please", "please change my shipping method to express",
)


def _intent_graph(model: Any) -> tuple[Any, list[str]]:
    import torch

    if hasattr(model, "embed"):
        class IntentGraph(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, input_ids: Any, attention_mask: Any) -> Any:
                emb = self.inner.embed(input_ids, attention_mask)
                return emb, self.inner.classifier(emb)  # eval mode: the head's dropout is the identity

        return IntentGraph(model), ["embedding", "logits"]

    class LogitsGraph(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    return LogitsGraph(model), ["logits"]


def _encoder_graph(model: Any, normalize: bool) -> tuple[Any, list[str]]:
    import torch

    from pipeline.batching import mean_pool

    class EncoderGraph(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            pooled = mean_pool(self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state, attention_mask)
            return torch.nn.functional.normalize(pooled, p=2, dim=1) if normalize else pooled

    return EncoderGraph(model), ["embedding"]


def _torch_outputs(graph: Any, tokenizer: Any, messages: Sequence[str], names: list[str], max_length: int) -> dict[str, np.ndarray]:
    import torch

    from pipeline.batching import pad_batch, tokenize

    ids = tokenize(tokenizer, list(messages), truncation=True, max_length=max_length)["input_ids"]
    input_ids, mask = pad_batch(ids, tokenizer.pad_token_id or 0)
    with torch.inference_mode():
        out = graph(input_ids, mask)
    out = out if isinstance(out, tuple) else (out,)
    return {name: value.float().numpy() for name, value in zip(names, out)}


def _parity(reference: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for name, ref in reference.items():
        report[f"{name}_max_abs_diff"] = round(float(np.abs(ref - got[name]).max()), 6)
    if "logits" in reference:
        report["intent_agreement"] = round(float((reference["logits"].argmax(1) == got["logits"].argmax(1)).mean()), 4)
    if "embedding" in reference:
        a, b = reference["embedding"], got["embedding"]
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
        report["embedding_min_cosine"] = round(float(cos.min()), 5)
    return report


def _write_graphs(graph: Any, names: list[str], tokenizer: Any, tmp: Path, source: str) -> None:
    """Trace ``graph`` to ``tmp/model.onnx``, quantise it to ``tmp/model_int8.onnx``, copy the fast tokenizer."""
    import warnings

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    sample_ids, sample_mask = (torch.tensor([[tokenizer.cls_token_id or 1, 5, 6, tokenizer.sep_token_id or 2]] * 2),
                               torch.ones(2, 4, dtype=torch.long))
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    axes.update({name: {0: "batch"} for name in names})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, (sample_ids, sample_mask), str(tmp / GRAPHS["onnx"]), input_names=["input_ids", "attention_mask"],
                          output_names=names, dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer logs a line per tensor, and advice, on the root logger
    try:
        quantize_dynamic(str(tmp / GRAPHS["onnx"]), str(tmp / GRAPHS["onnx-int8"]), weight_type=QuantType.QInt8,
                         per_channel=True, op_types_to_quantize=["MatMul"])
    finally:
        logging.getLogger().setLevel(quiet)
    with tempfile.TemporaryDirectory() as saved:  # the fast tokenizer's tokenizer.json, whatever the source folder holds
        tokenizer.save_pretrained(saved)
        if not (Path(saved) / TOKENIZER).is_file():
            raise ModelLoadError(f"The tokenizer of {source} has no fast (Rust) version, so it cannot run without "
                                 "transformers; keep the runtime 'torch' for it.")
        shutil.copy(Path(saved) / TOKENIZER, tmp / TOKENIZER)


def _check_parity(reference: dict[str, np.ndarray], tmp: Path, messages: list[str], max_length: int, source: str) -> dict[str, Any]:
    """Both graphs in ``tmp`` against the torch outputs; fp32 off by more than the tolerance is an error."""
    parity = {}
    for runtime in ("onnx", "onnx-int8"):
        encoder = OnnxEncoder(tmp, runtime, max_length=max_length, batch_size=len(messages))
        parity[runtime] = _parity(reference, encoder.run(messages))
    fp32 = parity["onnx"]
    worst = max(v for k, v in fp32.items() if k.endswith("max_abs_diff"))
    if worst > FP32_TOLERANCE or fp32.get("intent_agreement", 1.0) < 1.0:
        raise ModelLoadError(f"The ONNX export of {source} does not match the torch model (max abs difference {worst:.2g}, "
                             f"intent agreement {fp32.get('intent_agreement', 1.0)}); nothing was written. Report it "
                             "with the model, or keep the runtime 'torch'.")
    return parity


def export_graphs(graph: Any, names: list[str], tokenizer: Any, target: Path, *, kind: str, source: str,
                  max_length: int = 128, messages: Sequence[str] = PARITY_MESSAGES, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Trace ``graph`` to ``target/onnx/`` (fp32 + int8), check both against torch, rename into place; the report."""
    import onnxruntime
    import torch

    start = time.perf_counter()
    graph.eval()
    messages = [m for m in messages if m.strip()] or list(PARITY_MESSAGES)
    reference = _torch_outputs(graph, tokenizer, messages, names, max_length)
    with atomic_dir(target / ONNX_DIR) as tmp:
        _write_graphs(graph, names, tokenizer, tmp, source)
        report: dict[str, Any] = {
            "kind": kind, "source": source, "outputs": {n: int(v.shape[1]) for n, v in reference.items()},
            "pad_token_id": int(tokenizer.pad_token_id or 0), "max_length": max_length, "opset": OPSET,
            "exporter": "torch.onnx.export (TorchScript tracer)", "quantization": "quantize_dynamic: MatMul weights to QInt8, per channel",
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "parity_messages": len(messages),
            **(extra or {}),
        }
        write_json(tmp / REPORT, report)  # OnnxEncoder reads it (pad id, outputs) for the parity run
        parity = _check_parity(reference, tmp, messages, max_length, source)
        int8 = parity["onnx-int8"]
        report["parity"] = parity
        report["int8_ok"] = (int8.get("intent_agreement", 1.0) >= INT8_MIN_AGREEMENT
                             and int8.get("embedding_min_cosine", 1.0) >= INT8_MIN_COSINE)
        report["int8_rule"] = (f"intent as torch's on >= {INT8_MIN_AGREEMENT:.1%} of the parity messages and every embedding's "
                               f"cosine with torch's >= {INT8_MIN_COSINE}")
        report["seconds"] = round(time.perf_counter() - start, 2)
        write_json(tmp / REPORT, report)
    logger.info("Exported %s to %s in %.1f s (int8 %s: %s)", source, target / ONNX_DIR, report["seconds"],
                "usable" if report["int8_ok"] else "not used", parity["onnx-int8"])
    return report


def export_intent_model(folder: str | Path, messages: Sequence[str] = PARITY_MESSAGES, max_length: int | None = None,
                        source: str | None = None) -> dict[str, Any]:
    """Export the intent model folder ``folder`` into ``folder/onnx/`` (``source``: the name the report gives it)."""
    from transformers import AutoTokenizer

    from pipeline.hub import load_pretrained, resolve_model
    from pipeline.nlu.intent_model import load_intent_model

    ref = resolve_model(str(folder), what="intent model")
    if not ref.local:
        raise ModelLoadError(f"Export needs a local model folder; {folder!r} is not one. Download or train it first.")
    tokenizer = load_pretrained(AutoTokenizer.from_pretrained, ref, what="intent model tokenizer")
    model = load_intent_model(ref, load_pretrained).eval()
    if max_length is None:
        max_length = int(training_config(ref.source).get("max_length", 128))
    graph, names = _intent_graph(model)
    return export_graphs(graph, names, tokenizer, Path(ref.source), kind="intent", source=source or str(folder), max_length=max_length,
                         messages=messages, extra={"weights": weights_stamp(Path(ref.source))})


def try_export_intent_model(folder: Path, name: str, messages: Sequence[str] = PARITY_MESSAGES) -> bool:
    """:func:`export_intent_model`, or a log line saying why not (onnx missing, export failed): the model stays usable on torch."""
    from pipeline.onnx_runtime import export_available

    if not export_available():
        logger.info("Not exporting to ONNX: install onnx and onnxruntime, then run python -m pipeline.export --model %s", name)
        return False
    try:
        export_intent_model(folder, messages or PARITY_MESSAGES, source=name)
        return True
    except Exception as exc:  # the model itself is fine: the torch runtime answers with it
        logger.warning("The ONNX export failed (%s); the model answers on the torch runtime. Retry with "
                       "python -m pipeline.export --model %s", str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__, name)
        return False


def export_encoder(model: str = "default", *, max_length: int = 128, normalize: bool = True,
                   messages: Sequence[str] = PARITY_MESSAGES) -> Path:
    """Export a sentence encoder once into the user cache (keyed by its weights); returns its ``onnx/`` folder."""
    from transformers import AutoModel, AutoTokenizer

    from pipeline.hub import load_pretrained, resolve_model

    ref = resolve_model(model, what="sentence encoder")
    name = encoder_name(ref, max_length, normalize)
    target = encoder_export_dir(name)
    if read_report(target / ONNX_DIR) is not None:
        return target / ONNX_DIR
    tokenizer = load_pretrained(AutoTokenizer.from_pretrained, ref, "sentence encoder tokenizer")
    torch_model = load_pretrained(AutoModel.from_pretrained, ref, "sentence encoder").eval()
    graph, names = _encoder_graph(torch_model, normalize)
    export_graphs(graph, names, tokenizer, target, kind="encoder", source=ref.name, max_length=max_length,
                  messages=messages, extra={"encoder_name": name, "normalize": normalize})
    return target / ONNX_DIR


def _read_messages(path: str | None) -> list[str]:
    if path is None:
        return list(PARITY_MESSAGES)
    from pipeline.errors import DataError

    file = Path(path)
    if not file.is_file():
        raise DataError(f"The messages file {path!r} does not exist. Pass a text file with one message per line.")
    lines = [line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise DataError(f"{path} has no message. Pass a text file with one message per line.")
    return lines


@cli_main
def main(argv: list[str] | None = None) -> int:
    from pipeline.utils import setup_logging

    p = CliParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", help="Intent model folder (training.finetune_intent output): writes DIR/onnx/.")
    what.add_argument("--encoder", help="Sentence encoder ('default', a folder or Hub id): exported into the user cache.")
    p.add_argument("--messages", default=None, help="Text file, one message per line, for the parity check (default: built-in).")
    p.add_argument("--max-length", type=int, default=None, help="Token limit (default: the model's training max_length, 128 for encoders).")
    p.add_argument("--json", action="store_true", help="Print the export report as JSON.")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    setup_logging(args.verbose, quiet=args.quiet)
    messages = _read_messages(args.messages)
    if args.model:
        report = export_intent_model(args.model, messages, args.max_length)
        folder = Path(args.model) / ONNX_DIR
    else:
        folder = export_encoder(args.encoder, max_length=args.max_length or 128, messages=messages)
        report = read_report(folder) or {}
    if args.json:
        print(json.dumps({"folder": str(folder), **report}, indent=2))
    else:
        fp32, int8 = report["parity"]["onnx"], report["parity"]["onnx-int8"]
        print(f"wrote {folder}: model.onnx (parity {fp32}), model_int8.onnx ({'usable' if report['int8_ok'] else 'not used'}: {int8})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
