"""Character n-gram features: the text is normalised, cut into 1..3-character grams, weighted by sublinear TF-IDF.

Chinese has no spaces, so character grams stand in for words without a segmenter (no dictionary to ship, nothing
to download) and they are what the explanation shows an operator.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cached_property

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix

_SPACE = re.compile(r"\s+")
_MASK = re.compile(r"\*+")  # platforms and ledgers mask personal data as runs of *; the length means nothing
_DIGITS = re.compile(r"\d+")  # house numbers, dates, phone numbers: "a number" is the signal, not which


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = _MASK.sub("*", text)
    text = _DIGITS.sub("0", text)
    return _SPACE.sub(" ", text).strip()


def char_ngrams(text: str, lo: int, hi: int) -> list[str]:
    size = len(text)
    return [text[i : i + n] for n in range(lo, hi + 1) for i in range(size - n + 1)]


def gram_counts(texts: Iterable[str], lo: int, hi: int) -> list[Counter[str]]:
    return [Counter(char_ngrams(normalise(t), lo, hi)) for t in texts]


class NgramFeatures:
    """Vocabulary and IDF of a trained model; turns texts into sparse TF-IDF rows."""

    def __init__(self, grams: Sequence[str], idf: NDArray[np.float32], *, lo: int, hi: int) -> None:
        self.grams = list(grams)
        self.index = {g: i for i, g in enumerate(self.grams)}
        self.idf = np.asarray(idf, dtype=np.float32)
        self.lo, self.hi = lo, hi

    @property
    def size(self) -> int:
        return len(self.grams)

    @classmethod
    def fit(
        cls, counts: Sequence[Counter[str]], *, lo: int, hi: int, min_df: int = 2, max_features: int = 1_000_000
    ) -> NgramFeatures:
        df: Counter[str] = Counter()
        for c in counts:
            df.update(c.keys())
        kept = [(g, n) for g, n in df.items() if n >= min_df]
        if len(kept) > max_features:
            kept.sort(key=lambda item: (-item[1], item[0]))
            kept = kept[:max_features]
        kept.sort()  # a stable order makes two trainings on the same data byte-identical
        n_docs = len(counts)
        idf = np.array([math.log((1 + n_docs) / (1 + n)) + 1.0 for _, n in kept], dtype=np.float32)
        return cls([g for g, _ in kept], idf, lo=lo, hi=hi)

    def transform_counts(self, counts: Sequence[Counter[str]]) -> csr_matrix:
        """One row per text, L2-normalised sublinear TF-IDF over the known grams (unknown grams are ignored)."""
        index = self.index
        indptr = [0]
        ids: list[int] = []
        tfs: list[int] = []
        for c in counts:
            for gram, tf in c.items():
                j = index.get(gram)
                if j is not None:
                    ids.append(j)
                    tfs.append(tf)
            indptr.append(len(ids))
        col = np.asarray(ids, dtype=np.int32)
        values = (1.0 + np.log(np.asarray(tfs, dtype=np.float32))) * self.idf[col]
        ptr = np.asarray(indptr, dtype=np.int64)
        # L2 row norms without a Python loop: sum of squares per row via reduceat on non-empty rows.
        squares = values * values
        norms = np.zeros(len(counts), dtype=np.float32)
        nonempty = ptr[1:] > ptr[:-1]
        if values.size:
            norms[nonempty] = np.add.reduceat(squares, ptr[:-1][nonempty])
        norms = np.sqrt(norms)
        norms[norms == 0] = 1.0
        values /= np.repeat(norms, np.diff(ptr))
        return csr_matrix((values, col, ptr), shape=(len(counts), self.size))

    def transform(self, texts: Iterable[str]) -> csr_matrix:
        return self.transform_counts(gram_counts(texts, self.lo, self.hi))

    @cached_property
    def _telling(self) -> NDArray[np.bool_]:
        """Per known gram: is it evidence? A single character ("的", "k") or punctuation ("??") is shared by every
        category; a gram of two or more characters holding a letter, digit or ideograph is the least that reads as
        a word."""
        shortest = min(2, self.hi)
        return np.array([len(g) >= shortest and any(c.isalnum() for c in g) for g in self.grams], dtype=bool)

    def has_evidence(self, rows: csr_matrix) -> NDArray[np.bool_]:
        """Per row of `transform`: does the text share a telling gram with the vocabulary? Without one, its scores
        are the biases and little else: a guess from the label prior, not from the text."""
        rows_of = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
        return np.bincount(rows_of[self._telling[rows.indices]], minlength=rows.shape[0]) > 0
