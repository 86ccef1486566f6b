from combos import *
import common
INTER = ['nx_words', 'nx_cos_ts', 'nsum_x_words', 'title_dates_conflict']
S = {
  'base': [],
  'base+spec': SPEC,
  'base+spec+inter': SPEC + INTER,
  'base+cos_ts+spec+inter': ['cos_ts'] + SPEC + INTER,
  'base+mdist_ts_all8+spec+inter': ['mdist_ts_all_k8'] + SPEC + INTER,
  'base+cos_ts+mdist+lead+spec+inter': ['cos_ts', 'mdist_ts_all_k8', 'lead_meaning'] + SPEC + INTER,
  'kitchen': SETS['kitchen sink'],
  'kitchen+inter': SETS['kitchen sink'] + INTER,
}
if __name__ == '__main__':
    for name, ex in S.items():
        for l2 in [0.003, 0.01, 0.03, 0.1]:
            for nw in [1.0, 3.0]:
                for tgt in [0.95, 0.97]:
                    f = lambda r: base(r) + [r[n] for n in ex]
                    X = np.array([f(r) for r in rows]); g, *_ = fit_logistic(X[TUNE], Y[TUNE], l2=l2, neg_weight=nw)
                    o = evaluate(g(X), target=tgt)
                    print(f"{name:34s} l2={l2:<5} nw={nw} tgt={tgt} {fmt(o)}")
