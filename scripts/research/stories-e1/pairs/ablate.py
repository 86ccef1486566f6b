"""What each extra encoding buys, on top of words+specifics+summary specifics (SPEC).
Columns: tune and test P/R, per language; l2 0.01, negatives 1:1 (the CV choice) and 3:1."""
from combos import *
G = {
 'E0 titles only (+title margins, rank)': ['mdist_title_all_k8', 'mratio_title_half_k4', 'logrank_title_half'],
 'E1 +title+summary (ts)': ['cos_ts', 'mdist_ts_all_k8', 'mratio_ts_half_k4', 'logrank_ts_half', 'mutualnn_ts_half'],
 'E1b ts only, no margins': ['cos_ts'],
 'E2 +summary': ['cos_ts', 'mdist_ts_all_k8', 'mratio_ts_half_k4', 'logrank_ts_half', 'mutualnn_ts_half', 'cos_summary', 'cross_max', 'cross_mean'],
 'E3 +first sentence': ['cos_ts', 'mdist_ts_all_k8', 'mratio_ts_half_k4', 'logrank_ts_half', 'mutualnn_ts_half', 'cos_summary', 'cross_max', 'cross_mean', 'cos_first'],
 'E4 +every sentence (kitchen sink)': SETS['kitchen sink'][:] ,
 'E4 minus margins/ranks': ['cos_ts', 'cos_summary', 'cos_first', 'cross_max', 'cross_mean', 'sent_max', 'sent_bestmatch'],
}
if __name__ == '__main__':
    for name, ex in G.items():
        ex = [e for e in ex if e not in SPEC] + SPEC
        for nw in [1.0, 3.0]:
            X = np.array([base(r) + [r[n] for n in ex] for r in rows])
            g, *_ = fit_logistic(X[TUNE], Y[TUNE], l2=0.01, neg_weight=nw)
            for pl in [False, True]:
                o = evaluate(g(X), per_lang_threshold=pl)
                print(f"{name:38s} nw={nw} {'perlang' if pl else 'global '} {fmt(o)}")
