"""A guard: it gives each prompt a harm score, higher for a prompt more likely to ask for harm.

    python guard.py train --data train.json --model model
    python guard.py score --model model --prompts prompts.json --scores scores.json

`train.json` holds what the guard may learn from: `harmful` requests, `benign` requests, and
`templates`, the jailbreak wrappers attackers have used so far, each with `{behaviour}` where the
request goes. `prompts.json` is a list of prompts; `scores.json` must be a list of as many finite
numbers. The harness, not the guard, sets the threshold: at a fixed share of benign prompts
flagged, on benign prompts the guard never sees.
"""

import argparse
import json
import os
import pickle

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

C = 4.0  # inverse regularisation of the logistic regression
NGRAMS = (1, 2)  # word n-grams of the TF-IDF features


def examples(data):
    """The training texts and their labels: the bare requests, harmful (1) and benign (0)."""
    texts = list(data["harmful"]) + list(data["benign"])
    labels = [1] * len(data["harmful"]) + [0] * len(data["benign"])
    return texts, labels


def train(args):
    with open(args.data, encoding="utf-8") as f:
        data = json.load(f)
    texts, labels = examples(data)
    guard = make_pipeline(TfidfVectorizer(ngram_range=NGRAMS, sublinear_tf=True),
                          LogisticRegression(C=C, max_iter=2000))
    guard.fit(texts, labels)
    os.makedirs(args.model, exist_ok=True)
    with open(os.path.join(args.model, "guard.pkl"), "wb") as f:
        pickle.dump(guard, f)


def score(args):
    with open(os.path.join(args.model, "guard.pkl"), "rb") as f:
        guard = pickle.load(f)
    with open(args.prompts, encoding="utf-8") as f:
        prompts = json.load(f)
    scores = guard.predict_proba(prompts)[:, 1]
    with open(args.scores, "w", encoding="utf-8") as f:
        json.dump([float(s) for s in scores], f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", required=True)
    t.add_argument("--model", required=True)
    s = sub.add_parser("score")
    s.add_argument("--model", required=True)
    s.add_argument("--prompts", required=True)
    s.add_argument("--scores", required=True)
    args = parser.parse_args()
    train(args) if args.command == "train" else score(args)


if __name__ == "__main__":
    main()
