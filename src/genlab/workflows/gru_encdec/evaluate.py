"""The GRU encoder-decoder's evaluate step (Cho et al. 2014; models/gru_encdec.py).

On the test split (its first `n_test` pairs when set):

- translations by batched beam search (`beam`, length normalisation `length_penalty`, the
  plain <unk> banned from translations when `allow_unk` is false),
  detokenized with Moses's detokenizer, scored with sacrebleu's corpus BLEU against the
  raw references (the signature string is in the record), on all sentences and on those
  whose source and reference have no unknown word (Cho et al. 2014b's two columns); the
  same BLEU of the copy-the-source baseline. With copyable unknowns (the data set's
  `copy_unks`, genlab.data.text) every <unk{i}> of a translation is replaced by the
  source's i-th unknown word; `test_bleu_without_copy` is the BLEU with them left as
  unknowns, which shows what the copying adds;
- perplexity per target token on the valid and test splits (teacher forcing);
- the paper's own use: log p(f|e) of the test phrase pairs (their mean, and the pairs
  the model finds most and least likely) and a 2-D map of the encoder's summary c of
  short source phrases (t-SNE, scikit-learn; the paper's figs. 4-5);
- beam-search throughput: sentences/s batched against one sentence at a time on the
  first `bench_sentences` test sentences, and the ratio.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from genlab.data.text import PreparedText, Tokenizer, pairs, restore_unknowns
from genlab.io import sha256_file
from genlab.pipeline import load_trained, provenance_of, training_summary
from genlab.tracking import publish

CHECKPOINT = "train.pt"
CODE = ("workflows/gru_encdec/evaluate.py", "models/gru_encdec.py",
        "models/base.py", "models/__init__.py", "training/checkpoint.py", "training/runtime.py", "data/text.py",
        "report/figures.py")


@torch.no_grad()
def translate(model, sources: list, ev, batch_size: int, device) -> list[list[int]]:
    """Beam-search translations (target ids) of `sources` with the evaluate settings `ev` (beam, length_penalty,
    allow_unk), batched by source length (sorted, then restored)."""
    from torch.nn.utils.rnn import pad_sequence

    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    out: list[list[int] | None] = [None] * len(sources)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        src = pad_sequence([torch.as_tensor(sources[i], dtype=torch.long) for i in chunk], batch_first=True)
        for i, hyp in zip(chunk, model.beam_search(src.to(device), beam=ev.beam, length_penalty=ev.length_penalty,
                                                   allow_unk=ev.allow_unk)):
            out[i] = hyp
    return out


@torch.no_grad()
def likelihoods(model, data, batch_size: int, device) -> tuple[list[float], float]:
    """-log p(y|x) of every pair (nats) and the perplexity per target token, in one teacher-forced pass."""
    import math

    per_pair, nll, tokens = [], 0.0, 0
    for i in range(0, len(data), batch_size):
        src, tgt = (t.to(device) for t in data[list(range(i, min(i + batch_size, len(data))))])
        sent_nll, count = model.nll(src, tgt)
        per_pair += sent_nll.tolist()
        nll += sent_nll.sum().item()
        tokens += int(count.sum())
    return per_pair, math.exp(nll / tokens)


def bleu(hypotheses: list[str], references: list[str]):
    from sacrebleu.metrics import BLEU

    metric = BLEU()
    return metric.corpus_score(hypotheses, [references]), str(metric.get_signature())


def evaluate(p, data_dir: Path, model_dir: Path, metrics: Path, record: Path, figures_dir: Path,
             device: torch.device) -> None:
    """BLEU, perplexity, phrase scores and the phrase map of trained encoder-decoder `p.name`."""
    from genlab.models.gru_encdec import build

    cfg = p.model
    ev = cfg.evaluate
    data = PreparedText(data_dir)
    ckpt_file = model_dir / "checkpoints" / CHECKPOINT
    state = load_trained(ckpt_file)
    src_vocab, tgt_vocab = data.vocab(data.src_lang), data.vocab(data.tgt_lang)
    model = build(cfg, len(src_vocab), len(tgt_vocab)).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    src_test = data.sentences("test", data.src_lang, ev.n_test)
    tgt_test = data.sentences("test", data.tgt_lang, ev.n_test)
    refs, sources_raw = data.raw("test", data.tgt_lang, ev.n_test), data.raw("test", data.src_lang, ev.n_test)

    start = time.perf_counter()
    hyp_ids = translate(model, src_test, ev, ev.batch_size, device)
    decode_seconds = time.perf_counter() - start
    detok = Tokenizer(data.tgt_lang)
    numbered = data.numbered_unknowns("test", ev.n_test)
    hyps = [detok.detokenize(restore_unknowns([tgt_vocab[i] for i in ids], words))
            for ids, words in zip(hyp_ids, numbered)]
    score, signature = bleu(hyps, refs)
    without_copy, _ = bleu([detok.detokenize([tgt_vocab[i] for i in ids]) for ids in hyp_ids], refs)
    known = [not any(data.is_unknown(int(i)) for i in s) and not any(data.is_unknown(int(i)) for i in t)
             for s, t in zip(src_test, tgt_test)]
    clean = [k for k in range(len(refs)) if known[k]]
    score_clean, _ = bleu([hyps[k] for k in clean], [refs[k] for k in clean])
    copy, _ = bleu(sources_raw, refs)

    # beam search one sentence at a time against batched, on the same sentences
    bench = src_test[:ev.bench_sentences]
    translate(model, bench[:2], ev, 2, device)   # warm-up: first-call allocations
    start = time.perf_counter()
    translate(model, bench, ev, ev.batch_size, device)
    batched = time.perf_counter() - start
    start = time.perf_counter()
    translate(model, bench, ev, 1, device)
    single = time.perf_counter() - start

    test_nll, test_perplexity = likelihoods(model, pairs(data, "test", ev.n_test), ev.batch_size, device)
    scores = [-v for v in test_nll]   # log p(f|e) of each test pair
    ranked = sorted(range(len(scores)), key=lambda k: scores[k])
    values = {
        "test_bleu": score.score, "test_bleu_no_unk": score_clean.score, "copy_source_bleu": copy.score,
        **({"test_bleu_without_copy": without_copy.score} if data.copy_unks else {}),
        "test_sentences": len(refs), "test_sentences_no_unk": len(clean),
        "valid_perplexity": likelihoods(model, pairs(data, "valid"), ev.batch_size, device)[1],
        "test_perplexity": test_perplexity,
        "test_mean_log_p_f_given_e": sum(scores) / len(scores),
        "train_epochs": state["epoch"],
    }
    history = state["history"]
    speeds = [row["train_images_per_second"] for row in history]
    # timings vary from run to run: in the record, not among the metrics (which a rerun reproduces exactly)
    timing = {"beam_sentences_per_second": len(refs) / decode_seconds, "beam_batched_over_single": single / batched,
              "beam_batched_seconds": batched, "beam_single_seconds": single,
              "train_target_tokens_per_second": state["extra"]["target_tokens_per_pair"] * sum(speeds) / len(speeds)}

    figures_dir.mkdir(parents=True, exist_ok=True)
    made = [phrase_map(model, data, ev, figures_dir / "phrase_map.png", device)]
    rec = {
        "stage": "evaluate", "model": p.name, "family": cfg.family, "dataset": data.name, "scale": p.scale,
        "timing": timing,
        "protocol": {"split": f"test ({len(refs)} pairs)", "bleu_signature": signature,
                     "beam": ev.beam, "length_penalty": ev.length_penalty, "allow_unk": ev.allow_unk,
                     "no_unk": "sentences whose source and reference have no unknown token (<unk> or <unk{i}>)",
                     "copy_unks": data.copy_unks, "min_count": data.manifest.get("min_count", 1),
                     "copy": ("<unk{i}> replaced by the source's i-th unknown word (Luong et al. 2015's copyable "
                              "model; not in Cho et al. 2014)") if data.copy_unks else None,
                     "copy_baseline": "the English source as the French hypothesis",
                     "data_source": data.manifest["source"], "stand_in": data.manifest.get("stand_in"),
                     "vocab": data.manifest["vocab"],
                     "max_length": data.manifest["max_length"],
                     "throughput": f"batched (batch {ev.batch_size}) and one at a time on the first "
                                   f"{len(bench)} test sentences, {device}"},
        "examples": [{"source": sources_raw[k], "reference": refs[k], "translation": hyps[k],
                      "tokens": " ".join(tgt_vocab[i] for i in hyp_ids[k])}
                     for k in range(min(ev.examples, len(refs)))],
        "phrase_scores": {"most_likely": [(sources_raw[k], refs[k], scores[k]) for k in ranked[::-1][:5]],
                          "least_likely": [(sources_raw[k], refs[k], scores[k]) for k in ranked[:5]]},
        "figures": [str(f) for f in made],
        "training": training_summary(history, model),
        "provenance": provenance_of(dict(p), CODE, data=data.sha256, checkpoint=sha256_file(ckpt_file)),
    }
    publish("evaluate", p.name, p, values, rec, metrics, record, made)
    print(f"evaluate {p.name}: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items()))
    print(f"evaluate {p.name}: {signature}; " + ", ".join(f"{k} {v:.4g}" for k, v in timing.items()))


def phrase_map(model, data: PreparedText, ev, path: Path, device) -> Path:
    """t-SNE of the encoder's summary c of the shortest distinct test source phrases without unknowns, labelled
    (figs. 4-5)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.manifold import TSNE
    from torch.nn.utils.rnn import pad_sequence

    from genlab.io import atomic_path

    sentences = data.sentences("test", data.src_lang)
    raw = data.raw("test", data.src_lang)
    chosen, seen = [], set()
    for k in sorted(range(len(sentences)), key=lambda k: (len(sentences[k]), k)):
        # phrases of unknown words only would coincide
        if raw[k] not in seen and len(sentences[k]) <= 4 and not any(data.is_unknown(int(i)) for i in sentences[k]):
            seen.add(raw[k])
            chosen.append(k)
        if len(chosen) == ev.phrase_map:
            break
    with torch.no_grad():
        src = pad_sequence([torch.as_tensor(sentences[k], dtype=torch.long) for k in chosen], batch_first=True)
        c = model.encode(src.to(device)).cpu().numpy()
    xy = TSNE(n_components=2, perplexity=min(30.0, max(2.0, (len(chosen) - 1) / 3)), init="pca",
              random_state=0).fit_transform(c.astype(np.float64))
    fig, ax = plt.subplots(figsize=(11, 9))
    ax.scatter(xy[:, 0], xy[:, 1], s=4, alpha=0.4)
    for k, (x, y) in zip(chosen[::max(1, len(chosen) // 60)], xy[::max(1, len(chosen) // 60)]):
        ax.annotate(raw[k][:30], (x, y), fontsize=7)
    ax.set_title(f"encoder summaries c of {len(chosen)} short test phrases (t-SNE)")
    ax.set_xticks([])
    ax.set_yticks([])
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
