"""The prepared format of a parallel text data set, and how raw pairs become it.

    data/<scale>/<dataset>/
        manifest.json             counts, vocabulary sizes and coverage, tokenizer, length filter, source,
                                  bad-input counts, sha256 of every file
        vocab.<lang>.txt          one token per line; the line number is the id (0-3: <pad> <unk> <s> </s>,
                                  then <unk1> .. <unkK> when copy_unks = K > 0)
        <split>.<lang>.ids.npy    int32 token ids of every sentence of the split, concatenated
        <split>.<lang>.offsets.npy  int64 (N + 1,): sentence i is ids[offsets[i]:offsets[i + 1]]
        <split>.<lang>.txt        the raw (untokenized) sentences, one per line: BLEU's references
        <split>.<src>.unk.txt     copy_unks > 0: per source sentence, its numbered unknown words
                                  (tab-separated; word i is what <unk{i}> stands for)

Tokenization is Moses's (sacremoses, escape off), with the catalogs' placeholders kept as
single tokens; the vocabularies are the `vocab_size` most frequent tokens of the training
split per side (ties by token) seen at least `min_count` times, everything else <unk>.

Copyable unknowns (`copy_unks` = K > 0; Luong et al. 2015, "Addressing the Rare Word
Problem in Neural Machine Translation", their copyable model): the distinct copyable
words of a source sentence become <unk1>, <unk2>, ... in order of first appearance
(after the K-th, the source's own id or <unk>), and an unknown target word identical to
one of them gets the same token; every other unknown target word is <unk>. A source word
is copyable when the target vocabulary lacks it (the decoder could not write it) and
either the source vocabulary lacks it too or the training targets hold it verbatim
(names, product words: "Honduras" is frequent enough in English and not in French). The
model learns to emit <unk{i}> where the source's i-th copyable word belongs, and
translation puts the word back (`restore_unknowns`): names, which the catalogs are full
of, come through unchanged. NOTE: Luong et al. number the source's unknown words and tie
a target word to one with an unsupervised aligner; here the copyable set is wider (the
rule above) and only identical words are tied. NOTE: not in Cho et al. 2014, whose vocabulary maps every rare word to one
<unk>; K = 0 is their setting. Pairs with a side longer than
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


def copy_tokens(k: int) -> list[str]:
    """The numbered unknowns <unk1> .. <unk{k}> (ids 4 .. 3 + k)."""
    return [f"<unk{i}>" for i in range(1, k + 1)]


def build_vocab(sentences: list[list[str]], size: int, min_count: int = 1, copy_unks: int = 0) -> list[str]:
    """The specials, the numbered unknowns, then the `size` most frequent tokens seen at least `min_count` times."""
    reserved = set(SPECIALS) | set(copy_tokens(copy_unks))
    counts = Counter(t for s in sentences for t in s if t not in reserved)
    ranked = sorted(((t, n) for t, n in counts.items() if n >= min_count), key=lambda kv: (-kv[1], kv[0]))[:size]
    return list(SPECIALS) + copy_tokens(copy_unks) + [t for t, _ in ranked]


def number_unknowns(source: list[str], copyable, k: int) -> list[str]:
    """The distinct words of `source` for which `copyable(word)` holds, in order of first appearance, at most `k`."""
    out: list[str] = []
    for t in source:
        if len(out) < k and t not in out and copyable(t):
            out.append(t)
    return out


def encode(sentences: list[list[str]], vocab: list[str],
           numbered: list[list[str]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Ragged ids of `sentences`; with `numbered` (per sentence, the source's numbered unknown words), a word
    outside the vocabulary that is the i-th of them becomes <unk{i}> (id 3 + i), any other one <unk>."""
    index = {t: i for i, t in enumerate(vocab)}
    ids = []
    for n, s in enumerate(sentences):
        copies = {w: len(SPECIALS) + i for i, w in enumerate(numbered[n])} if numbered else {}
        ids += [copies[t] if t in copies else index.get(t, UNK) for t in s]
    offsets = np.cumsum([0] + [len(s) for s in sentences]).astype(np.int64)
    return np.asarray(ids, dtype=np.int32), offsets


def restore_unknowns(tokens: list[str], words: list[str]) -> list[str]:
    """Translation's tokens with every <unk{i}> replaced by the source's i-th unknown word (`words`); one the
    source has no word for stays as it is."""
    out = []
    for t in tokens:
        if t.startswith("<unk") and t[4:-1].isdigit() and 0 < int(t[4:-1]) <= len(words):
            out.append(words[int(t[4:-1]) - 1])
        else:
            out.append(t)
    return out


def write(out: Path, splits: dict[str, list[tuple[str, str]]], source: dict[str, Any], name: str, langs: tuple[str, str],
          vocab_size: int, max_length: int, limits: dict[str, int | None], protect: str | None,
          min_count: int = 1, copy_unks: int = 0) -> dict[str, Any]:
    """Tokenize, filter by length, build the vocabularies on train and write `out` atomically; the manifest.
    `langs` is (source, target): only the source's unknown words are numbered for copying."""
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
    vocabs = [build_vocab([sides[k] for _, sides in tokenized["train"]], vocab_size, min_count, copy_unks)
              for k in range(len(langs))]
    src_known, tgt_known = (set(v[len(SPECIALS) + copy_unks:]) for v in vocabs)
    tgt_seen = {t for _, sides in tokenized["train"] for t in sides[1]}

    def copyable(word: str) -> bool:
        return word not in tgt_known and (word not in src_known or word in tgt_seen)
    numbered = {split: [number_unknowns(sides[0], copyable, copy_unks) for _, sides in tokenized[split]]
                for split in SPLITS}
    if copy_unks:
        for split in SPLITS:
            path = tmp / f"{split}.{langs[0]}.unk.txt"
            path.write_text("".join("\t".join(words) + "\n" for words in numbered[split]), encoding="utf-8")
            hashes[path.name] = sha256_file(path)
    for k, lang in enumerate(langs):
        vocab = vocabs[k]
        (tmp / f"vocab.{lang}.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
        hashes[f"vocab.{lang}.txt"] = sha256_file(tmp / f"vocab.{lang}.txt")
        known = set(vocab[len(SPECIALS) + copy_unks:])
        coverage = {}
        for split in SPLITS:
            sents = [sides[k] for _, sides in tokenized[split]]
            ids, offsets = encode(sents, vocab, numbered[split] if copy_unks else None)
            for suffix, arr in (("ids", ids), ("offsets", offsets)):
                np.save(tmp / f"{split}.{lang}.{suffix}.npy", arr)
                hashes[f"{split}.{lang}.{suffix}.npy"] = sha256_file(tmp / f"{split}.{lang}.{suffix}.npy")
            raw = [pair[k] for pair, _ in tokenized[split]]
            (tmp / f"{split}.{lang}.txt").write_text("\n".join(raw) + "\n", encoding="utf-8")
            hashes[f"{split}.{lang}.txt"] = sha256_file(tmp / f"{split}.{lang}.txt")
            total = sum(len(s) for s in sents)
            coverage[split] = sum(t in known for s in sents for t in s) / max(total, 1)
        vocab_info[lang] = {"size": len(vocab), "coverage": coverage}
    copied = {split: sum(len(w) for w in numbered[split]) for split in SPLITS} if copy_unks else None
    manifest = {"name": name, "kind": "text", "languages": list(langs), "counts": counts, "vocab": vocab_info,
                "min_count": min_count, "copy_unks": copy_unks, "numbered_unknown_source_words": copied,
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

    @property
    def copy_unks(self) -> int:
        return int(self.manifest.get("copy_unks", 0))

    def is_unknown(self, token_id: int) -> bool:
        """<unk> or one of the numbered <unk{i}>."""
        return token_id == UNK or len(SPECIALS) <= token_id < len(SPECIALS) + self.copy_unks

    def numbered_unknowns(self, split: str, n: int | None = None) -> list[list[str]]:
        """Per source sentence of `split`, the words its <unk1>, <unk2>, ... stand for (empty lists when
        copy_unks = 0)."""
        path = self.root / f"{split}.{self.src_lang}.unk.txt"
        if not self.copy_unks:
            count = len(np.load(self.root / f"{split}.{self.src_lang}.offsets.npy")) - 1
            return [[] for _ in range(count if n is None else min(n, count))]
        lines = path.read_text(encoding="utf-8").split("\n")[:-1]
        rows = [line.split("\t") if line else [] for line in lines]
        return rows if n is None else rows[:n]

    def raw(self, split: str, lang: str, n: int | None = None) -> list[str]:
        lines = (self.root / f"{split}.{lang}.txt").read_text(encoding="utf-8").split("\n")[:-1]
        return lines if n is None else lines[:n]


class PairBatches:
    """Indexable by a list of indices -> (source ids (B, S), target ids (B, T)), PAD-padded; targets end in EOS.

    With `sort_k_batches` = k, the trainer's batches are regrouped by length (`regroup`): every k consecutive
    batches of the epoch's random order are pooled, sorted by target then source length and cut again, and the
    new batches are shuffled. A batch then pads little, and the recurrence runs over few padded steps: at most
    one k-th of the data moves between batches, and the epoch still visits every pair once."""

    def __init__(self, src: list, tgt: list, sort_k_batches: int | None = None):
        import torch

        self.src = [torch.as_tensor(s, dtype=torch.long) for s in src]
        self.tgt = [torch.cat([torch.as_tensor(t, dtype=torch.long), torch.tensor([EOS])]) for t in tgt]
        self.sort_k_batches = sort_k_batches

    def regroup(self, batches: list[list[int]], generator) -> list[list[int]]:
        """`batches` (lists of indices, in a random order) regrouped by length; unchanged without sort_k_batches.
        Deterministic given `generator`'s state, so a resumed epoch redraws the same batches."""
        import torch

        k = self.sort_k_batches
        if not k or not batches:
            return batches
        size, out = len(batches[0]), []
        for start in range(0, len(batches), k):
            pool = sorted((i for b in batches[start:start + k] for i in b),
                          key=lambda i: (len(self.tgt[i]), len(self.src[i])))   # stable: ties keep the random order
            out += [pool[j:j + size] for j in range(0, len(pool), size)]
        return [out[i] for i in torch.randperm(len(out), generator=generator).tolist()]

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


def pairs(data: PreparedText, split: str, n: int | None = None, sort_k_batches: int | None = None) -> PairBatches:
    return PairBatches(data.sentences(split, data.src_lang, n), data.sentences(split, data.tgt_lang, n),
                       sort_k_batches)
