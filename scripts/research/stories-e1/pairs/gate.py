"""Mutual-nearest-neighbour gate on top of E1: fold only if each is within the other's top k (ts vectors, same half)."""
from combos import *
ex = ['cos_ts', 'mdist_ts_all_k8', 'mratio_ts_half_k4', 'logrank_ts_half', 'mutualnn_ts_half'] + SPEC
X = np.array([base(r) + [r[n] for n in ex] for r in rows])
g, *_ = fit_logistic(X[TUNE], Y[TUNE], l2=0.01, neg_weight=1.0)
s = g(X)
for emb in ['ts', 'title']:
    rank = arr(rows, f'rankmax_{emb}_half')
    for k in [1, 2, 3, 5, 10]:
        gated = np.where(rank <= k, s, -1e9)
        print(f"gate {emb} top{k:<2}", fmt(evaluate(gated)), f"| test same within top{k}: {(rank[TEST & Y] <= k).mean():.2f}, diff: {(rank[TEST & ~Y] <= k).mean():.2f}")
