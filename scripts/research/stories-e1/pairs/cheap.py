"""E1 with shorter texts for the one extra encoding: title+summary cut at 200 chars, title+first sentence."""
from combos import *
for emb in ['ts', 'ts200', 'tfirst']:
    ex = [f'cos_{emb}', f'mdist_{emb}_all_k8', f'mratio_{emb}_half_k4', f'logrank_{emb}_half', f'mutualnn_{emb}_half'] + SPEC
    X = np.array([base(r) + [r[n] for n in ex] for r in rows])
    g, *_ = fit_logistic(X[TUNE], Y[TUNE], l2=0.01, neg_weight=1.0)
    print(f"{emb:7s}", fmt(evaluate(g(X))))
