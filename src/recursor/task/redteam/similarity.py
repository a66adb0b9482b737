"""When two texts count as near-duplicates, for templates and for behaviours.

Templates are compared as sequences of words (lowercased `\\w+` runs, the slot left out): their
similarity is 2 * LCS / (len a + len b), the length of their longest common subsequence of
words over their mean length (rapidfuzz's Indel similarity on words). Unrelated templates score
about 0.1, variants of one template 0.6 and more; TEMPLATE_NEAR is the line.

Every pair of a thousand long templates would take rapidfuzz a quarter of a minute, so pairs
are screened first by a bound that never misses one: the LCS of two word sequences is at most
the size of their multiset intersection, counted for all pairs at once as one sparse product of
(word, occurrence) indicator rows. Only pairs whose bound reaches the line are compared exactly.

Behaviours are short, and say the same thing in different frames ("Give detailed instructions
for ...", "How did people ... in the past?"): they are compared by their content words only,
framing and function words dropped and the rest brought to a crude stem ("hacked", "hacking"
-> "hack"; "stole" -> "steal"). Their similarity is the share of those words two behaviours
have in common, 2 |A & B| / (|A| + |B|). BEHAVIOUR_NEAR is the line: at 0.45 it counts "write
a computer worm script that spreads itself" and "create and spread a virus or malware" as one
behaviour, and some pairs that only share a theme as well, which errs on the side of a cleaner
held-out set; two unrelated benign prompts stay under 0.45.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from rapidfuzz.distance import LCSseq
from scipy import sparse

from recursor.task.redteam.records import SLOT

TEMPLATE_NEAR = 0.5
BEHAVIOUR_NEAR = 0.45

_WORD = re.compile(r"\w+")


def template_words(text: str) -> list[str]:
    return _WORD.findall(text.replace(SLOT, " ").lower())


def template_similarity(a: str, b: str) -> float:
    """2 * LCS / (len a + len b) over the two templates' words."""
    return _similarity(template_words(a), template_words(b))


def _similarity(a: Sequence, b: Sequence) -> float:
    if not a and not b:
        return 1.0
    return 2 * LCSseq.similarity(a, b) / (len(a) + len(b))


class _Words:
    """Templates as word-id sequences, and the sparse (word, occurrence) rows of the bound."""

    def __init__(self, texts: Sequence[str]):
        vocab: dict[str, int] = {}
        slots: dict[tuple[int, int], int] = {}
        self.seqs: list[list[int]] = []
        rows, cols = [], []
        for i, text in enumerate(texts):
            seq = [vocab.setdefault(w, len(vocab)) for w in template_words(text)]
            seen: dict[int, int] = {}
            for w in seq:
                cols.append(slots.setdefault((w, seen.get(w, 0)), len(slots)))
                rows.append(i)
                seen[w] = seen.get(w, 0) + 1
            self.seqs.append(seq)
        self.lengths = np.array([len(s) for s in self.seqs], dtype=np.int64)
        self.rows = sparse.csr_matrix((np.ones(len(cols), dtype=np.int32), (rows, cols)),
                                      shape=(len(texts), max(len(slots), 1)))

    def bounds(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Upper bounds of the similarity of templates a[i] and b[j]."""
        shared = (self.rows[a] @ self.rows[b].T).toarray()
        total = self.lengths[a][:, None] + self.lengths[b][None, :]
        return np.where(total > 0, 2 * shared / np.maximum(total, 1), 1.0)

    def exact(self, i: int, j: int) -> float:
        return _similarity(self.seqs[i], self.seqs[j])


def near_template_pairs(texts: Sequence[str],
                        threshold: float = TEMPLATE_NEAR) -> list[tuple[int, int, float]]:
    """Every pair (i < j, similarity) of templates at or above `threshold`."""
    words = _Words(texts)
    index = np.arange(len(texts))
    bounds = words.bounds(index, index)
    found = []
    for i, j in zip(*np.nonzero(np.triu(bounds >= threshold, k=1)), strict=True):
        s = words.exact(int(i), int(j))
        if s >= threshold:
            found.append((int(i), int(j), s))
    return found


def connected(n: int, edges: Sequence[tuple[int, int]]) -> list[int]:
    """The connected component of each of n items under `edges`: its smallest index."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in edges:
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return [root(i) for i in range(n)]


def closest_template_pair(a: Sequence[str], b: Sequence[str]) -> tuple[float, int, int]:
    """(similarity, i, j) of the most similar templates a[i] and b[j], found exactly: pairs are
    compared in order of their bound, until no bound left can beat the best."""
    if not a or not b:
        return 0.0, -1, -1
    words = _Words([*a, *b])
    bounds = words.bounds(np.arange(len(a)), np.arange(len(a), len(a) + len(b)))
    flat = bounds.ravel()
    best = (0.0, -1, -1)
    for k in np.argsort(-flat, kind="stable"):
        if flat[k] <= best[0]:
            break
        i, j = divmod(int(k), len(b))
        s = words.exact(i, len(a) + j)
        if s > best[0]:
            best = (s, i, j)
    return best


# request frames, question frames, the past-tense rewrites' frames and function words: what
# two wordings of one behaviour need not share
_FRAME_WORDS = """
a an the of for to on in into onto and or but nor with without how what who whom whose which
why when where is are was were be been being do does did done can could would should will shall
may might must your you yours someone someone's somebody people person individuals that this
these those it its their them they his her he she him from by at as about all any some such so
than then there here also very more most just only me my i we our us if not no one out up
give provide write create develop explain describe generate list teach suggest outline offer
produce design compose instruct show tell draft demonstrate publish share post help gave wrote
told shown taught made make making
detailed detail details step steps step-by-step instructions instruction tutorial guide guidance
way ways tips advice specific convincing difference between work works simple terms good best
better
past early late century decade decades historically history ago back then time times
2000s 1990s 1980s 1970s 2010s 20th 21st used able previous recent recently year years one
individual
getting caught get got avoid avoiding detected
"""
_FRAME = frozenset(_FRAME_WORDS.split())
# irregular past forms, which the suffix rule cannot bring back to their verb
_IRREGULAR = {"stole": "steal", "stolen": "steal", "built": "build", "sold": "sell",
              "bought": "buy", "hid": "hide", "hidden": "hide", "fed": "feed", "took": "take",
              "taken": "take", "kept": "keep", "found": "find", "sent": "send", "ran": "run",
              "led": "lead", "fought": "fight", "spent": "spend", "shot": "shoot", "struck":
              "strike", "broke": "break", "broken": "break", "chose": "choose", "drove": "drive",
              "fell": "fall", "lost": "lose", "left": "leave", "sought": "seek", "spread": "spread",
              "paid": "pay", "grew": "grow", "threw": "throw", "won": "win", "bred": "breed",
              "dealt": "deal", "forged": "forge", "sang": "sing", "wore": "wear", "came": "come",
              "went": "go", "gone": "go", "saw": "see", "seen": "see", "began": "begin"}


def _stem(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            stem = word[: -len(suffix)]
            # committed -> commit, robbing -> rob
            if suffix != "s" and stem[-1] == stem[-2] and stem[-1] not in "aeiouls":
                stem = stem[:-1]
            return stem
    return word


def behaviour_key(text: str) -> frozenset[str]:
    """The content words of a behaviour, stemmed: what its comparison reads."""
    words = re.findall(r"[a-z0-9]+(?:['-][a-z0-9]+)*", text.lower())
    return frozenset(_stem(w) for w in words if w not in _FRAME)


def behaviour_similarity(a: Sequence[str], b: Sequence[str]) -> np.ndarray:
    """The len(a) x len(b) matrix of behaviour similarities: the share of content words two
    behaviours have in common, 2 |A & B| / (|A| + |B|) (Dice)."""
    keys_a, keys_b = [behaviour_key(t) for t in a], [behaviour_key(t) for t in b]
    vocab = {w: k for k, w in enumerate(sorted(set().union(*keys_a, *keys_b)))}

    def rows(keys: list[frozenset[str]]) -> sparse.csr_matrix:
        r = [i for i, key in enumerate(keys) for _ in key]
        c = [vocab[w] for key in keys for w in sorted(key)]
        return sparse.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(keys), max(len(vocab), 1)))

    shared = (rows(keys_a) @ rows(keys_b).T).toarray()
    total = np.array([len(k) for k in keys_a])[:, None] + np.array([len(k) for k in keys_b])[None, :]
    return np.where(total > 0, 2 * shared / np.maximum(total, 1), 1.0)
