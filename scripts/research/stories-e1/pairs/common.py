import json
import numpy as np
rows = json.load(open('/tmp/research16/feats.json'))
LANGS = ['zh', 'en', 'mixed']
def arr(rows, f):
    return np.array([f(r) if callable(f) else r[f] for r in rows], dtype=float)
def split_mask(rows, s):
    return np.array([r['split'] == s for r in rows])
Y = np.array([r['same'] for r in rows])
LANG = np.array([r['lang'] for r in rows])
TUNE = split_mask(rows, 'tune'); TEST = ~TUNE

def pr(pred, y):
    tp = int((pred & y).sum()); fp = int((pred & ~y).sum()); fn = int((~pred & y).sum())
    return (tp / (tp + fp) if tp + fp else 1.0), tp / max(tp + fn, 1), tp, fp, fn

def choose(scores, y, target=0.95):
    """Threshold with the best recall at precision >= target (midpoint between scores; ties: highest)."""
    u = np.unique(scores)
    best_r, best_t = -1, np.inf
    for i, t in enumerate(u):
        p, r, *_ = pr(scores >= t, y)
        if p >= target and r >= best_r:
            if r > best_r or True:
                best_r = r; best_t = (t + u[i - 1]) / 2 if i > 0 else t - 1e-6
    return best_t

def oracle(scores, y, target=0.95):
    """Best recall at precision >= target on the very rows (a ceiling, not a result)."""
    best = 0.0
    for t in np.unique(scores):
        p, r, *_ = pr(scores >= t, y)
        if p >= target: best = max(best, r)
    return best

def auc(s, y):
    pos, neg = s[y], s[~y]
    return ((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())

def evaluate(score, per_lang_threshold=False, target=0.95):
    """score: array over all rows. Threshold(s) chosen on tune. Returns dict of figures."""
    out = {}
    if per_lang_threshold:
        th = {l: choose(score[TUNE & (LANG == l)], Y[TUNE & (LANG == l)], target) for l in LANGS}
        pred = np.array([score[i] >= th[LANG[i]] for i in range(len(rows))])
    else:
        t = choose(score[TUNE], Y[TUNE], target); th = t
        pred = score >= t
    for s, m in [('tune', TUNE), ('test', TEST)]:
        out[s] = pr(pred[m], Y[m])
        for l in LANGS:
            out[s + ' ' + l] = pr(pred[m & (LANG == l)], Y[m & (LANG == l)])
    out['oracle test'] = oracle(score[TEST], Y[TEST], target)
    for l in LANGS:
        mm = TEST & (LANG == l)
        out['oracle test ' + l] = oracle(score[mm], Y[mm], target)
    out['auc test'] = auc(score[TEST], Y[TEST])
    out['pred'] = pred; out['th'] = th
    return out

def fmt(o):
    f = lambda k: f"{o[k][0]:.3f}/{o[k][1]:.3f}"
    return (f"tune {f('tune')} | test {f('test')} | zh {f('test zh')} en {f('test en')} mx {f('test mixed')}"
            f" | auc {o['auc test']:.3f} oracleR {o['oracle test']:.2f} ({o['oracle test zh']:.2f}/{o['oracle test en']:.2f}/{o['oracle test mixed']:.2f})")

def fit_logistic(X, y, l2=0.01, neg_weight=3.0, steps=4000, rate=0.5):
    mu, sd = X.mean(0), X.std(0); sd[sd == 0] = 1
    Z = (X - mu) / sd
    w = np.zeros(X.shape[1]); b = 0.0
    sw = np.where(y, 1.0, neg_weight)
    yy = y.astype(float)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(Z @ w + b)))
        g = (p - yy) * sw
        w -= rate * (Z.T @ g / len(y) + l2 * w)
        b -= rate * g.mean()
    return lambda Xn: ((Xn - mu) / sd) @ w + b, w, mu, sd
