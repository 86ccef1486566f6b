"""E0 / E1 with research16's own PAIR threshold (one global logit: best tune-pair recall at tune-pair P >= 0.95)
applied in the digests: what the pair-level figures would give if carried over unchanged."""
import numpy as np
from digest import Half, evaluate, pr
from rules import fitted, scorer, choose, TUNE, Y
halves = {s: Half(s) for s in ['tune', 'test']}
for name in ['E0', 'E1', 'E0c', 'E1c']:
    g, ex, X, art = fitted(name)
    t = choose(g(X)[TUNE], Y[TUNE]); p = 1 / (1 + np.exp(-t))
    out = []
    for s, h in halves.items():
        c, _ = evaluate(h, scorer(g, ex, h, art)[0], [p] * 3, True)
        out.append(f"{s} digest {c[0]} right {c[1]} wrong of {c[2]}: P {pr(c)[0]:.3f} R {pr(c)[1]:.3f}")
    print(f"{name} at pair threshold {p:.3f}: " + ' | '.join(out))
