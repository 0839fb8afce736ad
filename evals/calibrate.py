"""Pick the abstention thresholds from score distributions on the tuning set (never the held-out set).

Usage: python evals/calibrate.py [evals/questions.jsonl] [--index index]
Prints the distributions of the signals (top dense cosine, salience-weighted coverage, best sentence
cosine) for answerable and out-of-scope questions, then over a grid:
- without sentence vectors: the (dense, coverage) threshold pair;
- with them: the line coverage + w * sentence >= b (w, b),
each maximising the smaller of the two routing accuracies (ties: the larger sum, then the simpler rule).
"""
from __future__ import annotations

import itertools

import numpy as np
from tuning import load

from assistant import Assistant
from assistant.followup import condense


def signals(bot: Assistant, cases: list[dict]) -> list[tuple[str, float, float, float]]:
    out = []
    for c in cases:
        q = condense(c["question"], c.get("history") or [], bot.lexicon.is_topic_word)
        top = float(bot.index.dense_search(bot.embedder.encode_query(q), 1)[1][0])
        _, sig = bot.covered(q, bot.retrieve(q, k=max(bot.settings.top_k, 5)), top)  # the engine's own signals
        out.append((c["kind"], top, sig["coverage"], sig["top_sentence"] or 0.0))
    return out


def main() -> None:
    bot, cases, _ = load(__doc__, ("answerable", "out_of_scope"))
    rows = signals(bot, cases)
    for kind in ("answerable", "out_of_scope"):
        d = np.array([r[1] for r in rows if r[0] == kind])
        c = np.array([r[2] for r in rows if r[0] == kind])
        t = np.array([r[3] for r in rows if r[0] == kind])
        q = [0, 0.05, 0.25, 0.5, 0.75, 0.95, 1]
        print(f"{kind:13s} n={len(d):3d} dense quantiles {np.round(np.quantile(d, q), 3).tolist()}")
        print(f"{'':13s}       coverage quantiles {np.round(np.quantile(c, q), 3).tolist()}")
        print(f"{'':13s}       sentence quantiles {np.round(np.quantile(t, q), 3).tolist()}")
    best = None
    for td, tc in itertools.product(np.arange(0.0, 0.5, 0.01), np.arange(0.0, 1.0, 0.02)):
        ans = [r for r in rows if r[0] == "answerable"]
        oos = [r for r in rows if r[0] == "out_of_scope"]
        a = np.mean([r[1] >= td and r[2] >= tc for r in ans])
        o = np.mean([not (r[1] >= td and r[2] >= tc) for r in oos])
        key = (min(a, o), a + o, -td, -tc)
        if best is None or key > best[0]:
            best = (key, td, tc, a, o)
    _, td, tc, a, o = best
    # The dense floor only screens off-topic questions; put it well below every answerable case.
    td = max(td, 0.5 * float(np.quantile([r[1] for r in rows if r[0] == "answerable"], 0.05)))
    print(f"best: abstain_min_dense={td:.2f} abstain_min_coverage={tc:.2f} "
          f"-> answerable answered {a:.3f}, out-of-scope abstained {o:.3f}")
    ans = [r for r in rows if r[0] == "answerable" and r[1] >= td]
    oos = [r for r in rows if r[0] == "out_of_scope"]
    n_ans = sum(r[0] == "answerable" for r in rows)
    line = None
    for w, b in itertools.product(np.arange(0.0, 2.001, 0.05), np.arange(0.3, 2.5, 0.01)):
        a = sum(r[2] + w * r[3] >= b for r in ans) / n_ans
        o = np.mean([not (r[1] >= td and r[2] + w * r[3] >= b) for r in oos])
        key = (round(min(a, o), 6), round(a + o, 6), -w)
        if line is None or key > line[0]:
            line = (key, w, b, a, o)
    _, w, b, a, o = line
    print(f"best line: abstain_sentence_weight={w:.2f} abstain_min_score={b:.2f} "
          f"-> answerable answered {a:.3f}, out-of-scope abstained {o:.3f}")


if __name__ == "__main__":
    main()
