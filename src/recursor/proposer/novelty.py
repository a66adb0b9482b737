"""The novelty filter: reject an idea that repeats one already tried in the run.

Several researchers propose in one run; a filter compares each new idea with every idea tried so
far (any branch, any status) and names the closest one. Two similarities, each in 0..1:

- text: the idea's title, hypothesis and rationale, lower-cased, punctuation dropped, numbers kept
  as whole tokens ("3e-3" and "0.003" are the same token, "3e-4" another). TF-IDF cosine, the mean
  of word (unigram + bigram) and character (3-5-gram within words) vectors, IDF over the ideas
  being compared. With an `Embedder` configured, the cosine of embeddings replaces TF-IDF; if the
  embedder fails, TF-IDF is used and the verdict says so.
- patch: what the patch changes, not the context it quotes: per edit, the REPLACE lines minus the
  SEARCH lines (as multisets) are added, the reverse removed, each line stripped of its comment and
  re-spaced token by token. The same edit to a parent whose other lines differ is the same set of
  changed lines. The mean of a weighted Jaccard over those lines (added lines weigh 2, removed 1:
  where a patch leads matters more than where it starts) and a token-level difflib ratio of the
  added code (credits an edit that differs in a few tokens; renamed variables throughout are
  not caught).

The score is `max(patch, sqrt(text * patch))`: the patch alone can make a repeat (the same edit,
however it is worded), text can raise a fairly high patch similarity up to their geometric mean,
and text alone never can (a paraphrased hypothesis with a different edit, such as lr 3e-3 against
lr 3e-4, is a different experiment). A character-level ratio would put "lr = 3e-3" and
"lr = 3e-4" at 0.95, so the code is compared as tokens and as whole lines, never as characters.

The default threshold, 0.8, was calibrated on the 28 ideas of the tiny-lm library, all distinct
experiments: the highest score between two of them is 0.43 (pairs that move one hyperparameter
opposite ways, e.g. lr 3e-3 / 3e-4: same removed line, 2 of 3 tokens of the added line), 0.45 with
the whole library as IDF corpus. Paraphrases (reworded idea, the same edit with other spacing,
comments, number spelling or quoted context, or on another parent) score 1.0; the same idea with
one of two edited lines changed scores 0.82 (text 1.0, patch 0.67), and 0.67 once reworded. TF-IDF
scores true paraphrases low (0.2-0.4), so the patch carries the decision. 0.8 rather than 0.6
leaves room for embeddings, whose cosines of any two related ideas run high (0.7-0.9) and lift
sqrt(text * patch) of opposite hyperparameter moves to ~0.6. The filter errs towards novelty: a
missed repeat costs one experiment, a false one blocks a direction.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from recursor import patch as patches
from recursor.errors import PatchError
from recursor.proposer.base import ProposalContext
from recursor.store.records import Idea, Node

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.8
ADDED_WEIGHT, REMOVED_WEIGHT = 2.0, 1.0

_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TEXT_TOKEN = re.compile(rf"{_NUMBER}|[a-z_][a-z0-9_]*")
_CODE_TOKEN = re.compile(rf"{_NUMBER}|[A-Za-z_][A-Za-z0-9_]*|\*\*|//|==|!=|<=|>=|->|\S")
_STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is", "it", "its",
    "of", "on", "or", "so", "than", "that", "the", "their", "then", "this", "to", "was", "we", "which",
    "while", "with", "will",
})


class Embedder(Protocol):
    def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order."""
        ...


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, vLLM, Ollama, ...)."""

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 30.0, max_retries: int = 2, batch_size: int = 128) -> None:
        self.model, self.base_url, self.api_key = model, base_url, api_key
        self.timeout, self.max_retries, self.batch_size = timeout, max_retries, batch_size
        self._client: Any = None

    def embed(self, texts: list[str]) -> list[list[float]]:
        if self._client is None:
            import openai  # the llm extra; a run without embeddings never needs it

            # local servers need no key, but the SDK refuses to build a client without one
            key = self.api_key or os.environ.get("OPENAI_API_KEY") or "unused"
            self._client = openai.OpenAI(api_key=key, base_url=self.base_url, timeout=self.timeout,
                                         max_retries=self.max_retries)
        out: list[list[float]] = []
        for i in range(0, len(texts), self.batch_size):
            batch = texts[i : i + self.batch_size]
            # "float", not the SDK's base64 default, which not every compatible server speaks
            resp = self._client.embeddings.create(model=self.model, input=batch, encoding_format="float")
            data = sorted(resp.data, key=lambda d: d.index)
            if len(data) != len(batch):
                raise ValueError(f"{len(batch)} texts sent, {len(data)} embeddings returned")
            out.extend([float(x) for x in d.embedding] for d in data)
        return out


@dataclass(frozen=True)
class Similar:
    """The closest earlier idea, and why it counts (or not) as a repeat."""

    node_id: int
    title: str
    text: float  # 0..1 idea-text similarity
    patch: float  # 0..1 patch similarity
    score: float  # max(patch, sqrt(text * patch)), compared with the threshold
    reason: str  # one line for the report
    method: str = "tf-idf"  # how `text` was measured: "embeddings", "tf-idf", or the fallback


class NoveltyFilter:
    def __init__(self, threshold: float = DEFAULT_THRESHOLD, embedder: Embedder | None = None) -> None:
        self.threshold = threshold
        self.embedder = embedder
        self._vectors: dict[str, list[float]] = {}  # text -> embedding: tried ideas recur every call

    def closest(self, idea: Idea, patch_text: str, tried: Sequence[tuple[int, Idea, str]]) -> Similar | None:
        """The earlier idea with the highest score, or None when nothing was tried yet."""
        if not tried:
            return None
        texts = [idea_text(idea)] + [idea_text(i) for _, i, _ in tried]
        text_sims, method = self._text_similarities(texts)
        mine = changed_lines(patch_text)
        best: Similar | None = None
        for (node_id, other, other_patch), t in zip(tried, text_sims, strict=True):
            p = patch_similarity(mine, changed_lines(other_patch))
            s = score(t, p)
            # ties go to the later node: it is the one a person remembers
            if best is None or (s, p) >= (best.score, best.patch):
                best = Similar(node_id, other.title, round(t, 3), round(p, 3), round(s, 3), "", method)
        assert best is not None
        return _with_reason(best, self.threshold)

    def is_novel(self, idea: Idea, patch_text: str,
                 tried: Sequence[tuple[int, Idea, str]]) -> tuple[bool, Similar | None]:
        near = self.closest(idea, patch_text, tried)
        return (near is None or near.score < self.threshold), near

    def _text_similarities(self, texts: list[str]) -> tuple[list[float], str]:
        """Similarity of texts[0] with each of texts[1:], and the method that measured it."""
        if self.embedder is not None:
            try:
                missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
                if missing:
                    vectors = self.embedder.embed(missing)
                    if len(vectors) != len(missing):
                        raise ValueError(f"{len(missing)} texts, {len(vectors)} embeddings")
                    self._vectors.update(zip(missing, vectors, strict=True))
                first = self._vectors[texts[0]]
                return [max(0.0, _dense_cosine(first, self._vectors[t])) for t in texts[1:]], "embeddings"
            except Exception as e:  # noqa: BLE001 - a flaky endpoint must never stop a run
                log.warning("embedder failed, idea texts compared by TF-IDF: %s", e)
                error = f"{type(e).__name__}: {e}"[:160].replace("\n", " ")
                return tfidf_similarities(texts), f"tf-idf (embedder failed: {error})"
        return tfidf_similarities(texts), "tf-idf"


def tried_in_run(ctx: ProposalContext, read_patch: Callable[[Node], str]) -> list[tuple[int, Idea, str]]:
    """(node id, idea, patch text) of every node of the run with an idea, whatever its status.

    A patch that cannot be read counts as empty: the idea's text is still compared."""
    out: list[tuple[int, Idea, str]] = []
    for n in ctx.nodes:
        if n.idea is None:
            continue
        try:
            text = read_patch(n) or ""
        except OSError as e:
            log.warning("patch of node %s unreadable (%s); compared by its idea text only", n.id, e)
            text = ""
        out.append((n.id, n.idea, text))
    return out


def score(text: float, patch: float) -> float:
    return max(patch, math.sqrt(max(0.0, text) * max(0.0, patch)))


def _with_reason(s: Similar, threshold: float) -> Similar:
    who = f"node {s.node_id} ('{s.title}')"
    if s.patch >= threshold:
        reason = f"same edit as {who}: patch similarity {s.patch:.2f}"
    elif s.score >= threshold:
        reason = (f"close to {who}: idea text similarity {s.text:.2f} and patch similarity "
                  f"{s.patch:.2f} (score {s.score:.2f} >= {threshold:.2f})")
    else:
        reason = (f"novel: the closest earlier idea is {who}, text {s.text:.2f}, patch {s.patch:.2f}, "
                  f"score {s.score:.2f} < {threshold:.2f}")
    if s.method.startswith("tf-idf ("):
        reason += f"; {s.method[len('tf-idf (') : -1]}, TF-IDF used instead"
    return Similar(s.node_id, s.title, s.text, s.patch, s.score, reason, s.method)


# -- idea text -----------------------------------------------------------------------------------------


def idea_text(idea: Idea) -> str:
    return "\n".join(x for x in (idea.title, idea.hypothesis, idea.rationale) if x.strip()) or "untitled"


def _number(tok: str) -> str:
    try:
        return repr(float(tok))  # "3e-3", "0.003" and "3.0e-03" are one number
    except ValueError:
        return tok


def text_tokens(text: str) -> list[str]:
    toks = (_number(t) if t[0].isdigit() or t[0] == "." else t for t in _TEXT_TOKEN.findall(text.lower()))
    return [t for t in toks if t not in _STOPWORDS]


def _features(text: str) -> tuple[Counter[str], Counter[str]]:
    toks = text_tokens(text)
    words = Counter(toks) + Counter(f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False))
    chars: Counter[str] = Counter()
    for t in toks:
        padded = f" {t} "
        for n in (3, 4, 5):
            chars.update(padded[i : i + n] for i in range(len(padded) - n + 1))
    return words, chars


def _tfidf(docs: list[Counter[str]]) -> list[dict[str, float]]:
    # smooth IDF and sublinear TF, as scikit-learn's TfidfVectorizer(smooth_idf, sublinear_tf)
    df = Counter(term for d in docs for term in d)
    idf = {term: math.log((1 + len(docs)) / (1 + k)) + 1 for term, k in df.items()}
    vecs = []
    for d in docs:
        v = {term: (1 + math.log(c)) * idf[term] for term, c in d.items()}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        vecs.append({term: x / norm for term, x in v.items()})
    return vecs


def _sparse_dot(a: dict[str, float], b: dict[str, float]) -> float:
    a, b = (a, b) if len(a) <= len(b) else (b, a)
    return sum(x * b.get(k, 0.0) for k, x in a.items())


def tfidf_similarities(texts: list[str]) -> list[float]:
    """TF-IDF cosine of texts[0] with each of texts[1:], IDF over all of them."""
    feats = [_features(t) for t in texts]
    words, chars = _tfidf([f[0] for f in feats]), _tfidf([f[1] for f in feats])
    return [0.5 * _sparse_dot(words[0], w) + 0.5 * _sparse_dot(chars[0], c)
            for w, c in zip(words[1:], chars[1:], strict=True)]


def _dense_cosine(a: Sequence[float], b: Sequence[float]) -> float:
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(x * x for x in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / (na * nb) if na and nb else 0.0


# -- patches -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Changes:
    added: Counter[str]
    removed: Counter[str]

    def tokens(self) -> list[str]:
        return [t for line in self.added.elements() for t in line.split(" ")]


def _strip_comment(line: str) -> str:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


def normalise_line(line: str) -> str:
    toks = _CODE_TOKEN.findall(_strip_comment(line))
    return " ".join(_number(t) if t[0].isdigit() or t[0] == "." and len(t) > 1 else t for t in toks)


def changed_lines(patch_text: str) -> Changes:
    """The normalised lines a patch adds and removes; the context it quotes cancels out."""
    try:
        pairs = [(e.search, e.replace) for e in patches.parse_any(patch_text).edits]
    except PatchError:
        pairs = [("", patch_text)]  # not a patch we can read: all of it counts as added code
    added: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    for search, replace in pairs:
        old = Counter(n for n in map(normalise_line, search.splitlines()) if n)
        new = Counter(n for n in map(normalise_line, replace.splitlines()) if n)
        added += new - old
        removed += old - new
    return Changes(added, removed)


def patch_similarity(a: Changes, b: Changes) -> float:
    union = (ADDED_WEIGHT * sum((a.added | b.added).values())
             + REMOVED_WEIGHT * sum((a.removed | b.removed).values()))
    if not union:
        return 0.0  # two patches that change nothing are not the same experiment
    inter = (ADDED_WEIGHT * sum((a.added & b.added).values())
             + REMOVED_WEIGHT * sum((a.removed & b.removed).values()))
    ta, tb = a.tokens(), b.tokens()
    ratio = difflib.SequenceMatcher(None, ta, tb, autojunk=False).ratio() if ta and tb else 0.0
    return 0.5 * inter / union + 0.5 * ratio
