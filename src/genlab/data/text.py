"""The prepared format of a parallel text data set, and how raw pairs become it.

    data/<scale>/<dataset>/
        manifest.json             counts, vocabulary sizes and coverage, tokenizer, length filter, source,
                                  bad-input counts, sha256 of every file
        vocab.<lang>.txt          one token per line; the line number is the id (0-3: <pad> <unk> <s> </s>)
        <split>.<lang>.ids.npy    int32 token ids of every sentence of the split, concatenated
        <split>.<lang>.offsets.npy  int64 (N + 1,): sentence i is ids[offsets[i]:offsets[i + 1]]
        <split>.<lang>.txt        the raw (untokenized) sentences, one per line: BLEU's references

Tokenization is Moses's (sacremoses, escape off), with the catalogs' placeholders kept as
single tokens; the vocabularies are the `vocab_size` most frequent tokens of the training
split per side (ties by token), everything else <unk>. Pairs with a side longer than
`max_length` tokens are left out of every split and counted. `PreparedText` reads the
format back; `pairs` gives a split as padded (source, target + </s>) batches.
"""
from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from genlab.data.fetch import DataError
from genlab.io import sha256_file

SPLITS = ("train", "valid", "test")
MANIFEST = "manifest.json"
SPECIALS = ("<pad>", "<unk>", "<s>", "</s>")
PAD, UNK, BOS, EOS = range(4)


class Tokenizer:
    """Moses tokenization and detokenization for one language; `protect` is a regex of spans kept whole."""

    def __init__(self, lang: str, protect: str | None = None):
        from sacremoses import MosesDetokenizer, MosesTokenizer

        self.lang, self.protect = lang, [protect] if protect else None
        self._tok, self._detok = MosesTokenizer(lang=lang), MosesDetokenizer(lang=lang)

    def __call__(self, text: str) -> list[str]:
        return self._tok.tokenize(text, escape=False, protected_patterns=self.protect)

    def detokenize(self, tokens: list[str]) -> str:
        return self._detok.detokenize(tokens)


def build_vocab(sentences: list[list[str]], size: int) -> list[str]:
    counts = Counter(t for s in sentences for t in s)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size]
    return list(SPECIALS) + [t for t, _ in ranked]


def encode(sentences: list[list[str]], vocab: list[str]) -> tuple[np.ndarray, np.ndarray]:
    index = {t: i for i, t in enumerate(vocab)}
    ids = [index.get(t, UNK) for s in sentences for t in s]
    offsets = np.cumsum([0] + [len(s) for s in sentences]).astype(np.int64)
    return np.asarray(ids, dtype=np.int32), offsets


def write(out: Path, splits: dict[str, list[tuple[str, str]]], source: dict[str, Any], name: str, langs: tuple[str, str],
          vocab_size: int, max_length: int, limits: dict[str, int | None], protect: str | None) -> dict[str, Any]:
    """Tokenize, filter by length, build the vocabularies on train and write `out` atomically; the manifest."""
    toks = {lang: Tokenizer(lang, protect) for lang in langs}
    tokenized, counts, too_long = {}, {}, {}
    for split in SPLITS:
        pairs = splits[split]
        n = limits.get(split) or len(pairs)
        if n > len(pairs):
            raise DataError(f"datasets.{name}.n_{split} = {n}: the {split} split has only {len(pairs)} pairs")
        rows = []
        too_long[split] = 0
        for pair in pairs:
            sides = [toks[lang](text) for lang, text in zip(langs, pair)]
            if max(len(s) for s in sides) > max_length or min(len(s) for s in sides) == 0:
                too_long[split] += 1
                continue
            rows.append((pair, sides))
            if len(rows) == n:
                break
        if not rows:
            raise DataError(f"{name} {split}: no pair left after the length filter (max_length {max_length})")
        tokenized[split] = rows
        counts[split] = len(rows)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    vocab_info, hashes = {}, {}
    for k, lang in enumerate(langs):
        vocab = build_vocab([sides[k] for _, sides in tokenized["train"]], vocab_size)
        (tmp / f"vocab.{lang}.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
        hashes[f"vocab.{lang}.txt"] = sha256_file(tmp / f"vocab.{lang}.txt")
        known = set(vocab[len(SPECIALS):])
        coverage = {}
        for split in SPLITS:
            sents = [sides[k] for _, sides in tokenized[split]]
            ids, offsets = encode(sents, vocab)
            for suffix, arr in (("ids", ids), ("offsets", offsets)):
                np.save(tmp / f"{split}.{lang}.{suffix}.npy", arr)
                hashes[f"{split}.{lang}.{suffix}.npy"] = sha256_file(tmp / f"{split}.{lang}.{suffix}.npy")
            raw = [pair[k] for pair, _ in tokenized[split]]
            (tmp / f"{split}.{lang}.txt").write_text("\n".join(raw) + "\n", encoding="utf-8")
            hashes[f"{split}.{lang}.txt"] = sha256_file(tmp / f"{split}.{lang}.txt")
            total = sum(len(s) for s in sents)
            coverage[split] = sum(t in known for s in sents for t in s) / max(total, 1)
        vocab_info[lang] = {"size": len(vocab), "coverage": coverage}
    manifest = {"name": name, "kind": "text", "languages": list(langs), "counts": counts, "vocab": vocab_info,
                "tokenizer": f"sacremoses MosesTokenizer (escape off), placeholders kept whole: {protect}",
                "max_length": max_length, "dropped_too_long_or_empty": too_long, "sha256": hashes, **source}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(out)
    return manifest


class PreparedText:
    """A prepared parallel text data set: vocabularies and, per split, ragged id arrays and raw sentences."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not (self.root / MANIFEST).exists():
            raise DataError(f"{self.root}: no prepared data set here; run the prepare stage first (dvc repro)")
        self.manifest = json.loads((self.root / MANIFEST).read_text())
        if self.manifest.get("kind") != "text":
            raise DataError(f"{self.root}: a {self.manifest.get('kind')} data set, not a parallel text one")
        self.src_lang, self.tgt_lang = self.manifest["languages"]

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def sha256(self) -> str:
        return sha256_file(self.root / MANIFEST)

    def vocab(self, lang: str) -> list[str]:
        return (self.root / f"vocab.{lang}.txt").read_text(encoding="utf-8").splitlines()

    def sentences(self, split: str, lang: str, n: int | None = None) -> list[np.ndarray]:
        ids = np.load(self.root / f"{split}.{lang}.ids.npy")
        offsets = np.load(self.root / f"{split}.{lang}.offsets.npy")
        count = len(offsets) - 1 if n is None else min(n, len(offsets) - 1)
        return [ids[offsets[i]:offsets[i + 1]] for i in range(count)]

    def raw(self, split: str, lang: str, n: int | None = None) -> list[str]:
        lines = (self.root / f"{split}.{lang}.txt").read_text(encoding="utf-8").split("\n")[:-1]
        return lines if n is None else lines[:n]


class PairBatches:
    """Indexable by a list of indices -> (source ids (B, S), target ids (B, T)), PAD-padded; targets end in EOS."""

    def __init__(self, src: list, tgt: list):
        import torch

        self.src = [torch.as_tensor(s, dtype=torch.long) for s in src]
        self.tgt = [torch.cat([torch.as_tensor(t, dtype=torch.long), torch.tensor([EOS])]) for t in tgt]

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, index) -> tuple[torch.Tensor, torch.Tensor]:
        import torch
        from torch.nn.utils.rnn import pad_sequence

        index = [index] if isinstance(index, int) else list(index)
        return (pad_sequence([self.src[i] for i in index], batch_first=True, padding_value=PAD),
                pad_sequence([self.tgt[i] for i in index], batch_first=True, padding_value=PAD))

    def target_tokens(self) -> int:
        return sum(len(t) for t in self.tgt)


def pairs(data: PreparedText, split: str, n: int | None = None) -> PairBatches:
    return PairBatches(data.sentences(split, data.src_lang, n), data.sentences(split, data.tgt_lang, n))
