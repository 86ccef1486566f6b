"""E1 variants: without the title vector (ts replaces it), margins within the half only / all 904, k."""
from combos import *
def base_nomeaning(r):
    b = base(r); b[3] = 0.0; b[4] = 0.0; return b
def go(name, ex, bf=base):
    ex = ex + SPEC
    X = np.array([bf(r) + [r[n] for n in ex] for r in rows])
    g, *_ = fit_logistic(X[TUNE], Y[TUNE], l2=0.01, neg_weight=1.0)
    print(f"{name:44s}", fmt(evaluate(g(X))))
go('E1', ['cos_ts', 'mdist_ts_all_k8', 'mratio_ts_half_k4', 'logrank_ts_half', 'mutualnn_ts_half'])
go('E1 without the title vector', ['cos_ts', 'mdist_ts_all_k8', 'mratio_ts_half_k4', 'logrank_ts_half', 'mutualnn_ts_half'], base_nomeaning)
go('E1, ts cos only, no title vector', ['cos_ts'], base_nomeaning)
for k in [2, 4, 8]:
    go(f'E1 margins within half only, k={k}', ['cos_ts', f'mdist_ts_half_k{k}', f'mratio_ts_half_k{k}'])
    go(f'E1 margins among all 904, k={k}', ['cos_ts', f'mdist_ts_all_k{k}', f'mratio_ts_all_k{k}'])
go('E0 spec only (no margins, titles)', [])
