"""Logistic rules over the existing signals plus the new embedding/specifics scores.
Fit and thresholds on tune only; figures on test."""
from common import *
import sys

def base(r, m=True):
    mixed = 1.0 if r['scripts'] == 'mixed' else 0.0
    cjk = 1.0 if r['scripts'] == 'chinese' else 0.0
    mean = r['meaning'] if m else 0.0
    return [r['words'], r['words'] * cjk, r['across'], mean, mean * mixed,
            r['ids'], r['numbers'], r['dates'], r['places'], r['names'], r['shared']]

def mixed_inter(names):
    # each extra feature also weighed separately for mixed pairs
    return lambda r: [r[n] for n in names] + [r[n] * (r['scripts'] == 'mixed') for n in names]

SPEC = ['num_jacc', 'num_shared', 'num_conflict_sum', 'cap_jacc', 'cap_shared', 'cap_conflict_sum', 'place_conflict_sum', 'place_jacc']
SETS = {
    'base (words+title meaning+specifics)': [],
    'base+lead_meaning (tried)': ['lead_meaning'],
    'base+cos_ts (title+summary)': ['cos_ts'],
    'base+cos_tfirst': ['cos_tfirst'],
    'base+cos_first': ['cos_first'],
    'base+cross max/mean': ['cross_max', 'cross_mean'],
    'base+sent max/bestmatch': ['sent_max', 'sent_bestmatch'],
    'base+mratio title half k4': ['mratio_title_half_k4'],
    'base+mdist title all k8': ['mdist_title_all_k8'],
    'base+mratio ts half k4': ['mratio_ts_half_k4'],
    'base+mdist ts all k8': ['mdist_ts_all_k8'],
    'base+mdist ts half k2': ['mdist_ts_half_k2'],
    'base+mratio summary half k4': ['mratio_summary_half_k4'],
    'base+mutualNN/logrank ts half': ['mutualnn_ts_half', 'logrank_ts_half'],
    'base+summary specifics': SPEC,
    'base+cos_ts+summary specifics': ['cos_ts'] + SPEC,
    'base+mdist ts all k8+spec': ['mdist_ts_all_k8'] + SPEC,
    'base+cos_ts+mdist_ts+lead+spec': ['cos_ts', 'mdist_ts_all_k8', 'lead_meaning'] + SPEC,
    'kitchen sink': ['cos_ts', 'cos_summary', 'cos_first', 'cross_max', 'cross_mean', 'sent_max', 'sent_bestmatch',
                     'mdist_ts_all_k8', 'mratio_ts_half_k4', 'mdist_title_all_k8', 'logrank_ts_half', 'mutualnn_ts_half'] + SPEC,
}

def run(extra, l2=0.01, nw=3.0, per_lang=False, inter=False):
    f = (lambda r: base(r) + [r[n] for n in extra] + ([r[n] * (r['scripts'] == 'mixed') for n in extra] if inter else []))
    X = np.array([f(r) for r in rows], dtype=float)
    if per_lang == 'models':
        s = np.zeros(len(rows))
        for l in LANGS:
            m = LANG == l
            g, *_ = fit_logistic(X[TUNE & m], Y[TUNE & m], l2=l2, neg_weight=nw)
            s[m] = g(X[m])
        return evaluate(s, per_lang_threshold=True)
    g, *_ = fit_logistic(X[TUNE], Y[TUNE], l2=l2, neg_weight=nw)
    return evaluate(g(X), per_lang_threshold=per_lang)

if __name__ == '__main__':
    for mode in ['global', 'perlang', 'models']:
        print('==', {'global': 'one rule, one threshold', 'perlang': 'one rule, per-language thresholds', 'models': 'a rule per language'}[mode])
        for name, extra in SETS.items():
            o = run(extra, per_lang={'global': False, 'perlang': True, 'models': 'models'}[mode])
            print(f"{name:38s} {fmt(o)}")
