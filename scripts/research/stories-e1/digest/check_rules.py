"""Do rules.py's fits reproduce /tmp/research16 best.py's pair figures (E0 0.907/0.866, E1 0.934/0.884)? And do
digest-recomputed features of the tune half equal the fitted ones on the labelled pairs?"""
import numpy as np
from rules import *
from digest import Half, IDX
h = Half('tune')
for name in ['E0', 'E1', 'E0c', 'E1c']:
    g, ex, X, art = fitted(name)
    s = g(X); t = choose(s[TUNE], Y[TUNE])
    p, r, *_ = pr_pairs(s[TEST] >= t, Y[TEST])
    print(f'{name}: {ex[:5]}; pair threshold (tune P>=0.95) logit {t:.2f} = prob {1/(1+np.exp(-t)):.3f}; test pairs P {p:.3f} R {r:.3f}')
    df = DigestFeatures(h, art)
    worst = {}
    for k, pp in enumerate(h.chosen):
        x, _ = df.row(2 * k, 2 * k + 1, ex)
        ref = X[IDX[pp['id']]]
        for n, a, b in zip(['words', 'words_cjk', 'across', 'meaning', 'meaning_mx', 'ids', 'numbers', 'dates', 'places', 'names', 'shared'] + ex, x, ref):
            worst[n] = max(worst.get(n, 0), abs(a - b))
    print('   max |digest feature - fitted feature| on the tune pairs:', {k: round(float(v), 5) for k, v in worst.items() if v > 0})
