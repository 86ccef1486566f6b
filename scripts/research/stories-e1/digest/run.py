"""Main table: today's rule vs E0 / E1 (and the consistent variants E0c / E1c) at the DIGEST level.
Thresholds per kind of pair (chinese / other / mixed) by F0.5 on the digest of the tune half, on the Rust
test's grid (0.95 .. 0.30, step 0.05; the other kinds at 0.99); then the test half's digest, and the test PAIRS
with those thresholds. Usage: run.py [rule ...] [--fine] [--all-leads]"""
import sys, json
import numpy as np
import rs
from digest import Half, choose_thresholds, evaluate, pr, f05, GRID
from rules import fitted, scorer, rows, TEST, TUNE, Y

args = [a for a in sys.argv[1:] if not a.startswith('--')] or ['today-words', 'today', 'E0', 'E1', 'E0c', 'E1c']
FINE = '--fine' in sys.argv
KW = {'all_leads': True} if '--all-leads' in sys.argv else {}
grid = [round(0.995 - 0.005 * k, 3) for k in range(140)] if FINE else GRID
halves = {s: Half(s) for s in ['tune', 'test']}
KIND = np.array([rs.SCRIPTS.index(r['scripts']) for r in rows])

def pair_figures(score, th, mask):
    pred = score >= np.array(th)[KIND]
    tp = int((pred & Y & mask).sum()); fp = int((pred & ~Y & mask).sum()); fn = int((~pred & Y & mask).sum())
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1)

out = {}
for name in args:
    if name.startswith('today'):
        meaning = name == 'today'
        mk = lambda h, meaning=meaning: (lambda hh, l, i: (lambda j: (j['score'], j['scripts']))(hh.judged(l, i, meaning)))
        score_of = {s: mk(h) for s, h in halves.items()}
        sig = {json.loads(l)['id']: json.loads(l) for l in open('/tmp/stories-signals.jsonl')}
        pair_score = None
        if meaning:
            pair_score = np.array([sig[r['id']]['scores']['score'] for r in rows])
    else:
        meaning = True
        g, ex, X, art = fitted(name)
        score_of = {s: scorer(g, ex, h, art)[0] for s, h in halves.items()}
        pair_score = 1 / (1 + np.exp(-g(X)))
    th, table = choose_thresholds(halves['tune'], score_of['tune'], meaning, grid=grid, **KW)
    res = {}
    for s in ['tune', 'test']:
        c, _ = evaluate(halves[s], score_of[s], th, meaning, **KW)
        res[s] = (c[0], c[1], c[2]) + pr(c)
    line = f"{name:12s} thresholds zh/other/mixed {th}: tune digest P {res['tune'][3]:.3f} R {res['tune'][4]:.3f} | TEST digest {res['test'][0]} right {res['test'][1]} wrong of {res['test'][2]}: P {res['test'][3]:.3f} R {res['test'][4]:.3f}"
    if pair_score is not None:
        pp, prr = pair_figures(pair_score, th, TEST)
        line += f" | test pairs at these thresholds P {pp:.3f} R {prr:.3f}"
    print(line, flush=True)
    # sensitivity: every threshold shifted by d (clipped to [0.05, 0.995])
    sens = []
    for d in [-0.15, -0.10, -0.05, 0.0, 0.05, 0.10, 0.15] if not FINE else [-0.03, -0.02, -0.01, 0, 0.01, 0.02, 0.03]:
        t2 = [min(max(t + d, 0.05), 0.995) for t in th]
        ct, _ = evaluate(halves['tune'], score_of['tune'], t2, meaning, **KW)
        c, _ = evaluate(halves['test'], score_of['test'], t2, meaning, **KW)
        (p0, r0), (p, r) = pr(ct), pr(c)
        sens.append(f"{d:+.2f}: tune {p0:.3f}/{r0:.3f} test {p:.3f}/{r:.3f} ({c[0]}/{c[1]})")
    print('   shift all thresholds by ' + '; '.join(sens), flush=True)
