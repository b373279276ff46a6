"""Generator fine-tuning on a tiny random T5 (the google/flan-t5-base code path), its data and its evaluation."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from pipeline.nlu.entities import extract_entities
from pipeline.errors import ConfigError, DataError
from pipeline.reply.generators import GeneratorConfig, Seq2SeqGenerator
from pipeline.types import IntentPrediction, Snippet
from tests.tiny_models import make_tiny_t5
from training import finetune_generator, loop
from training.finetune_generator import GeneratorTrainer, GeneratorTrainingConfig
from training.generator_data import FACTS, attach_snippets, fill_reference, read_bitext_rows, split_rows, to_examples

KB_YAML = """
- id: refund-window
  intents: [get_refund]
  title: Refund window
  text: Refunds are issued within 5-7 business days of the return arriving.
- id: track-order
  intents: [track_order]
  title: Tracking
  text: Track an order under Account > Orders with the tracking link.
- id: reset-password
  intents: [recover_password]
  title: Password reset
  text: Use Forgot password on the sign-in page; the reset link works for 30 minutes.
"""
ROWS = {
    "get_refund": ("I want a refund for order {n}", "I can help with the refund for order {{Order Number}}. Call {{Customer Support Phone Number}}."),
    "track_order": ("where is my order {n}", "You can track order {{Order Number}} under {{Order History}} on {{Website Name}}."),
    "recover_password": ("i forgot my password number {n}", "Use Forgot password on {{Website Name}} to reset it."),
}


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gen")
    data = root / "pairs.csv"
    with data.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["instruction", "intent", "response"])
        for intent, (msg, resp) in ROWS.items():
            writer.writerows([msg.format(n=10000 + 7 * i), intent, resp] for i in range(10))
    kb = root / "kb.yaml"
    kb.write_text(KB_YAML)
    texts = [msg.format(n=12345) for msg, _ in ROWS.values()] + [r for _, r in ROWS.values()] + [KB_YAML]
    model = make_tiny_t5(root / "tiny-t5", texts)
    return {"data": data, "kb": kb, "model": model}


def _config(tmp_path: Path, toy: dict[str, Path], **kw) -> GeneratorTrainingConfig:
    values = dict(model=str(toy["model"]), output_dir=str(tmp_path / "generator"), data=str(toy["data"]), kb_path=str(toy["kb"]),
                  epochs=1, batch_size=4, eval_batch_size=4, lr=1e-3, max_source_length=256, max_target_length=24,
                  eval_generate=2, checkpoint_every=1, seed=3, num_threads=1, faithful_targets=False)
    values.update(kw)
    return GeneratorTrainingConfig(**values)


def test_fill_reference_is_consistent_with_the_message():
    ents = extract_entities("cancel order 732201349959 and invoice #00108")
    ref = fill_reference("Order {{Order Number}} / {{Invoice Number}}: call [Customer Support Phone Number] "
                         "or use {{Live Chat}} on {{Website Name}}, {{Order History}}.", ents)
    assert ref == (f"Order 732201349959 / 00108: call {FACTS['phone']} or use live chat on {FACTS['website']}, Order History.")
    assert fill_reference("order {{Order Number}}", []) == "order your order"


def test_split_is_seeded_stratified_and_disjoint(toy):
    rows = read_bitext_rows(toy["data"])
    assert len(rows) == 30
    a, b = split_rows(rows, seed=1), split_rows(rows, seed=1)
    assert a == b and [len(a[k]) for k in ("train", "validation", "test")] == [24, 3, 3]
    assert sorted(r["intent"] for r in a["test"]) == ["get_refund", "recover_password", "track_order"]
    msgs = [{r["message"] for r in a[k]} for k in a]
    assert not (msgs[0] & msgs[1] or msgs[0] & msgs[2] or msgs[1] & msgs[2])
    with pytest.raises(DataError, match="does not exist"):
        read_bitext_rows(toy["data"].parent / "missing.csv")


def test_intent_snippets_are_attached(toy):
    from knowledge_base.loader import load_knowledge_base

    examples = to_examples(read_bitext_rows(toy["data"])[:2])
    attach_snippets(examples, "intent", top_k=2, kb=load_knowledge_base(toy["kb"]))
    assert [s.id for s in examples[0].snippets] == ["refund-window"]
    assert examples[0].reference == f"I can help with the refund for order 10000. Call {FACTS['phone']}."
    with pytest.raises(ConfigError, match="'snippets' parameter must be one of 'intent', 'retriever'. Got 'bm25'"):
        attach_snippets(examples, "bm25")


def test_retriever_snippets_are_attached(toy):
    """``snippets: retriever``: the retriever ranks each message given its gold intent; its top k are attached."""
    class Ranker:
        def __init__(self) -> None:
            self.calls: list[tuple] = []

        def run(self, messages, intents, top_k):
            self.calls.append((list(messages), list(intents), top_k))
            return {"snippets": [[Snippet(f"{intent}-{i}", [intent], "t", "x") for i in range(top_k)] for intent in intents]}

    rows = read_bitext_rows(toy["data"])[:2]
    examples = to_examples(rows)
    ranker = Ranker()
    attach_snippets(examples, "retriever", top_k=1, retriever=ranker)
    assert ranker.calls == [([r["message"] for r in rows], [r["intent"] for r in rows], 1)]
    assert [[s.id for s in ex.snippets] for ex in examples] == [[f"{r['intent']}-0"] for r in rows]


def test_finetune_two_steps_save_load_generate(tmp_path, toy, monkeypatch):
    from evaluation import generation

    scored: list[tuple[list[str], list[str]]] = []

    def fake_rouge(replies, references):  # the validation ROUGE-L is the mean of what the scorer returns
        scored.append((list(replies), list(references)))
        return [{"p": 0.0, "r": 0.0, "f": 0.25}, {"p": 0.0, "r": 0.0, "f": 0.75}]

    monkeypatch.setattr(generation, "rouge_l", fake_rouge)
    cfg = _config(tmp_path, toy, max_steps=2)
    metrics = GeneratorTrainer(cfg, progress=False).train()
    assert len(scored) == 1 and len(scored[0][0]) == 2 and scored[0][0][0] == metrics["sample_reply"]
    out = Path(cfg.output_dir)
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "resolved_config.json", "metrics.json", "README.md"} <= names
    assert not any(p.suffix in {".bin", ".pkl", ".pt"} for p in out.iterdir())
    assert not Path(str(out) + ".checkpoint").exists()
    assert metrics["steps"] == 2 and metrics["train_pairs"] == 24 and metrics["validation_pairs"] == 3
    assert metrics["validation_loss"] > 0 and metrics["validation_rougeL_f"] == 0.5 and metrics["rouge_examples"] == 2
    saved = json.loads((out / "resolved_config.json").read_text())
    assert saved["seed"] == 3 and saved["prompt_template"] == cfg.prompt_template
    assert json.loads((out / "metrics.json").read_text())["steps"] == 2
    assert "Seed: 3" in (out / "README.md").read_text()

    gen = Seq2SeqGenerator(GeneratorConfig(generator="seq2seq", model=str(out), max_new_tokens=5))
    snippet = Snippet(id="refund-window", intents=["get_refund"], title="Refund window", text="Refunds take 5-7 days.")
    replies = gen.run(["I want a refund for order 12345", "refund"], [IntentPrediction("get_refund", 0.9)] * 2, [[snippet]] * 2)["replies"]
    assert len(replies) == 2 and all(isinstance(r, str) for r in replies)


def test_resume_after_interruption(tmp_path, toy, monkeypatch):
    cfg = _config(tmp_path, toy, epochs=2, batch_size=8, eval_generate=0)
    real_save = loop.save_checkpoint
    calls = {"n": 0}

    def save_then_die(*args, **kwargs):
        real_save(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        GeneratorTrainer(cfg, progress=False).train()
    ckpt = Path(cfg.output_dir + ".checkpoint")
    saved = json.loads((ckpt / "state.json").read_text())
    assert saved["global_step"] == 2 and saved["step_in_epoch"] == 2 and not Path(cfg.output_dir).exists()
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    with pytest.raises(ConfigError, match=r"different settings \(lr\)"):
        GeneratorTrainer(_config(tmp_path, toy, epochs=2, batch_size=8, eval_generate=0, lr=5e-4), progress=False, resume=True).train()
    metrics = GeneratorTrainer(cfg, progress=False, resume=True).train()
    assert metrics["steps"] == 6 and [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert Path(cfg.output_dir, "model.safetensors").is_file() and not ckpt.exists()


def test_cli_refuses_existing_output_and_bad_settings(tmp_path, toy, capsys):
    (tmp_path / "generator").mkdir()
    (tmp_path / "generator" / "config.json").write_text("{}")  # an earlier model (an empty folder would be filled)
    assert finetune_generator.main(["--model", str(toy["model"]), "--output-dir", str(tmp_path / "generator")]) == 2
    assert "already exists. Pass --overwrite" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"The 'epochs' parameter of GeneratorTrainingConfig must be an int >= 1. Got 0."):
        GeneratorTrainingConfig(epochs=0)
    with pytest.raises(ConfigError, match=r"The 'snippets' parameter of GeneratorTrainingConfig must be one of intent, retriever"):
        GeneratorTrainingConfig(snippets="bm25")


def test_cli_prints_plain_or_json_metrics(tmp_path, toy, capsys):
    common = ["--model", str(toy["model"]), "--data", str(toy["data"]), "--kb-path", str(toy["kb"]), "--max-steps", "1",
              "--batch-size", "4", "--eval-batch-size", "4", "--max-target-length", "24", "--num-threads", "1", "-q"]
    assert finetune_generator.main([*common, "--output-dir", str(tmp_path / "g1"), "--eval-generate", "0", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["steps"] == 1 and metrics["validation_loss"] > 0  # faithful targets on by default:
    assert metrics["train_pairs"] == 24 - metrics["faithful_targets"]["train"]["dropped"] == 8  # the toy's phone-number replies go
    assert finetune_generator.main([*common, "--output-dir", str(tmp_path / "g2"), "--eval-generate", "2"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("validation loss ") and ", ROUGE-L F1 " in line and line.endswith(f" -> {tmp_path / 'g2'}")


def snippet_for_test() -> Snippet:
    return Snippet(id="refund-window", intents=["get_refund"], title="Refund window", text="Refunds take 5-7 days.")


@pytest.mark.parametrize("family", ["warm-started BERT2BERT", "BART"])
def test_other_families_train_save_and_answer(tmp_path, toy, family):
    """An encoder (the packaged MiniLM's stand-in) warm-starts an encoder-decoder; a BART folder trains as it is."""
    from tests.tiny_models import make_tiny_bart, make_tiny_bert

    texts = [msg.format(n=12345) for msg, _ in ROWS.values()] + [r for _, r in ROWS.values()] + [KB_YAML]
    base = (make_tiny_bert if family.startswith("warm") else make_tiny_bart)(tmp_path / "base", texts)
    cfg = _config(tmp_path, toy, model=str(base), max_steps=2, max_source_length=128)
    metrics = GeneratorTrainer(cfg, progress=False).train()
    out = Path(cfg.output_dir)
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == ("encoder-decoder" if family.startswith("warm") else "bart") and metrics["steps"] == 2
    if family.startswith("warm"):
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(base)
        assert (config["decoder_start_token_id"], config["eos_token_id"], config["pad_token_id"]) == (
            tok.cls_token_id, tok.sep_token_id, tok.pad_token_id)
        assert config["decoder"]["is_decoder"] and config["decoder"]["add_cross_attention"]
        # the targets lose the leading [CLS]: the model puts the start token before the shifted labels itself
        from training.generator_data import GenerationExample

        ex = [GenerationExample(message="refund?", intent="get_refund", reference="Refunds take 5-7 days.", snippets=[snippet_for_test()])]
        _, _, kept = GeneratorTrainer(cfg).encode(tok, ex)
        _, _, cut = GeneratorTrainer(cfg).encode(tok, ex, tok.cls_token_id)
        assert kept[0][0] == tok.cls_token_id and cut[0] == kept[0][1:] and cut[0][-1] == tok.sep_token_id
    gen = Seq2SeqGenerator(GeneratorConfig(generator="seq2seq", model=str(out), max_new_tokens=4))
    snippet = Snippet(id="refund-window", intents=["get_refund"], title="Refund window", text="Refunds take 5-7 days.")
    replies = gen.run(["I want a refund for order 12345"], [IntentPrediction("get_refund", 0.9)], [[snippet]])["replies"]
    assert len(replies) == 1 and isinstance(replies[0], str)


def test_warm_start_needs_an_encoder_with_special_tokens(tmp_path):
    from pipeline.errors import ModelLoadError
    from pipeline.hub import resolve_model
    from tests.tiny_models import make_tiny_bert
    from training.warm_start import is_seq2seq, warm_start
    from transformers import AutoTokenizer

    base = make_tiny_bert(tmp_path / "bert")
    ref = resolve_model(str(base))
    assert not is_seq2seq(ref) and is_seq2seq(resolve_model(str(make_tiny_t5(tmp_path / "t5"))))
    tok = AutoTokenizer.from_pretrained(base)
    model = warm_start(ref, tok)
    assert model.generation_config.decoder_start_token_id == tok.cls_token_id
    tok.cls_token = None
    with pytest.raises(ModelLoadError, match=r"has no \[CLS\], \[SEP\] or \[PAD\] token"):
        warm_start(ref, tok)


def test_faithful_targets_keep_repair_or_drop():
    from training.faithful_targets import faithful_targets
    from training.generator_data import GenerationExample

    snippet = Snippet(id="refund-window", intents=["get_refund"], title="Refund window",
                      text="Refunds are issued within 5-7 business days of the return arriving.")
    ok = "Refunds are issued within 5-7 business days of the return arriving, to your original payment method."
    phone = "Call us on 1-800-555-0100 any time, we will sort it out."
    examples = [GenerationExample("refund?", "get_refund", ok, snippets=[snippet]),
                GenerationExample("refund?", "get_refund", f"{ok} {phone}", snippets=[snippet]),
                GenerationExample("refund?", "get_refund", phone, snippets=[snippet])]
    kept, counts = faithful_targets(examples)
    assert counts == {"unchanged": 1, "repaired": 1, "dropped": 1}
    assert [ex.reference for ex in kept] == [ok, ok]


def test_training_reports_the_faithful_target_counts(tmp_path, toy):
    cfg = _config(tmp_path, toy, max_steps=1, eval_generate=0, faithful_targets=True)
    metrics = GeneratorTrainer(cfg, progress=False).train()
    counts = metrics["faithful_targets"]
    assert sum(counts["train"].values()) == 24 and sum(counts["validation"].values()) == 3
    assert metrics["train_pairs"] == 24 - counts["train"]["dropped"]
