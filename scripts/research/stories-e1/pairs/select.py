"""Choose among the rules by 5-fold cross-validation inside the tune half only (repeated 4x),
criterion: out-of-fold recall at out-of-fold precision >= 0.95 (pooled). Then report test."""
from combos import *
from explore import S as S2
INTER = ['nx_words', 'nx_cos_ts', 'nsum_x_words', 'title_dates_conflict']
CANDS = dict(SETS); CANDS.update({k + ' ': v for k, v in S2.items()})
tune_idx = np.where(TUNE)[0]
def oof(extra, l2, nw, seed):
    rng = np.random.default_rng(seed)
    X = np.array([base(r) + [r[n] for n in extra] for r in rows])
    folds = np.zeros(len(rows), int)
    for l in LANGS:
        for yv in [True, False]:
            ids = tune_idx[(LANG[tune_idx] == l) & (Y[tune_idx] == yv)]
            rng.shuffle(ids); folds[ids] = np.arange(len(ids)) % 5
    s = np.zeros(len(rows))
    for f in range(5):
        tr = TUNE & (folds != f); te = TUNE & (folds == f)
        g, *_ = fit_logistic(X[tr], Y[tr], l2=l2, neg_weight=nw, steps=2000)
        s[te] = g(X[te])
    return s
res = []
for name, extra in CANDS.items():
    for l2 in [0.01, 0.03, 0.1]:
        for nw in [1.0, 3.0]:
            rs = []
            for seed in range(4):
                s = oof(extra, l2, nw, seed)
                rs.append(oracle(s[TUNE], Y[TUNE]))
            res.append((np.mean(rs), name, l2, nw))
res.sort(reverse=True)
for cv, name, l2, nw in res[:12]:
    X = np.array([base(r) + [r[n] for n in CANDS[name]] for r in rows])
    g, *_ = fit_logistic(X[TUNE], Y[TUNE], l2=l2, neg_weight=nw)
    for pl in [False, True]:
        o = evaluate(g(X), per_lang_threshold=pl)
        print(f"cvR@P95={cv:.3f} {name.strip():34s} l2={l2} nw={nw} {'perlang' if pl else 'global '} {fmt(o)}")
