"""Approach 5: a learned metric over the embeddings (PCA of ts embeddings, elementwise product
and |diff| of the two sides), with base signals; fit on tune only."""
from combos import *
E = np.load('emb.npz')
for emb in ['ts', 'title']:
    X = E[emb]; mu = X.mean(0); U, s, Vt = np.linalg.svd(X - mu, full_matrices=False)
    for d in [8, 16, 32, 64]:
        P = (X - mu) @ Vt[:d].T
        P /= np.linalg.norm(P, axis=1, keepdims=True)
        A, B = P[0::2], P[1::2]
        M = np.hstack([A * B, np.abs(A - B)])
        for extra in [[], ['cos_ts'] + SPEC]:
            F = np.hstack([np.array([base(r) + [r[n] for n in extra] for r in rows]), M])
            for l2 in [0.03, 0.1, 0.3]:
                g, *_ = fit_logistic(F[TUNE], Y[TUNE], l2=l2)
                o = evaluate(g(F))
                print(f"{emb} pca{d:<3} {'+cos_ts+spec' if extra else 'base':12s} l2={l2:<4} {fmt(o)}")
