"""E0 / E1 of /tmp/research16 (best.py), fitted on the tune PAIRS exactly as there (l2 0.01, negatives 1:1,
4000 steps), and their features recomputed for any (lead, item) of a digest.
Margins / ranks at digest time: neighbourhood = all reports of that digest."""
import sys, re
import numpy as np
sys.path.insert(0, '/tmp/research16')
from combos import base, SPEC, rows, TUNE, TEST, Y, LANG, fit_logistic, choose, pr as pr_pairs  # reads feats.json only
from ablate import G
import rs

E0 = G['E0 titles only (+title margins, rank)']   # mdist_title_all_k8, mratio_title_half_k4, logrank_title_half
E1 = G['E1 +title+summary (ts)']                  # cos_ts, mdist_ts_all_k8, mratio_ts_half_k4, logrank_ts_half, mutualnn_ts_half
# 'c' variants: consistent neighbourhoods and clean ranks. The 904-report ('all') margin is replaced by the
# half's (= the digest's), and ranks/mutual-NN are recomputed without research16's artifact (its pair cosine was an
# elementwise sum compared with matmul cosines, so in ~40% of pairs the partner outranked itself).
E0c = [e.replace('_all_', '_half_') for e in E0]
E1c = [e.replace('_all_', '_half_') for e in E1]
RULESETS = {'E0': (E0, True), 'E1': (E1, True), 'E0c': (E0c, False), 'E1c': (E1c, False)}

def _clean_ranks():
    """logrank/mutualnn over the half, ranks by matmul cosines only (feature name -> array over the 452 pairs)."""
    import json
    E = np.load('/tmp/research16/emb.npz'); reports = json.load(open('/tmp/research16/reports.json'))
    split = np.array([r['split'] for r in reports]); N = len(reports); A = np.arange(0, N, 2); B = A + 1
    out = {}
    for emb in ['title', 'ts']:
        X = E[emb]; C = X @ X.T; np.fill_diagonal(C, -np.inf); C[split[:, None] != split[None, :]] = -np.inf
        c = C[A, B]
        ra = (C[A] > c[:, None]).sum(1) + 1; rb = (C[B] > c[:, None]).sum(1) + 1
        out[f'logrank_{emb}_half'] = -np.log(np.maximum(ra, rb)); out[f'mutualnn_{emb}_half'] = ((ra == 1) & (rb == 1)).astype(float)
    return out

def fitted(name):
    """(g: logit of a feature matrix, ex: extra feature names, X: the 452 pairs' features, artifact)."""
    extra, artifact = RULESETS[name]
    ex = [e for e in extra if e not in SPEC] + SPEC
    clean = {} if artifact else _clean_ranks()
    X = np.array([base(r) + [clean[n][i] if n in clean else r[n] for n in ex] for i, r in enumerate(rows)])
    g, w, mu, sd = fit_logistic(X[TUNE], Y[TUNE], l2=0.01, neg_weight=1.0)
    return g, ex, X, artifact

# ---- summary specifics, copied from /tmp/research16/feats.py (that file rewrites feats.json when imported) ----
_ev = open('/work/main/src/stories/evidence.rs', encoding='utf-8').read()
PLACES = re.findall(r'^\s*"([^"]+)",\s*$', _ev.split('const PLACES')[1].split('];')[0], re.M)
COMMON = set("a after against amid an and as at be before but by for from has have he her his how i in into is it its new no not of off on out over says she the their they this to up us was we what when who why will with".split())
CN = '零一二三四五六七八九'
def cnum(s):
    out = []
    for m in re.finditer(r'[零一二三四五六七八九十百千两]{2,}|(?<=第)[零一二三四五六七八九十百千两]', s):
        tot, cur = 0, 0
        for ch in m.group():
            if ch == '两': cur = 2
            elif ch in CN: cur = CN.index(ch)
            else:
                tot += max(cur, 1) * {'十': 10, '百': 100, '千': 1000}[ch]; cur = 0
        out.append(str(tot + cur))
    return out
def numbers(s):
    s = s.translate({ord(c): ord('0') + i for i, c in enumerate('０１２３４５６７８９')})
    return set([m.replace(',', '') for m in re.findall(r'\d+(?:[.,]\d+)*', s)] + cnum(s))
def caps(s):
    ws = re.findall(r"[A-Za-z][A-Za-z0-9\-']*", s)
    return set(w.lower() for w in ws if (w[0].isupper() or sum(c.isupper() for c in w) >= 2) and w.lower() not in COMMON and len(w) > 1)
def places(s):
    return set(p for p in PLACES if p in s)
def jac(x, y):
    return len(x & y) / len(x | y) if (x | y) else 0.0

class DigestFeatures:
    """Features of (lead, item) inside one digest (a digest.Half)."""
    def __init__(self, half, artifact=True):
        self.h = half; self.artifact = artifact
        gi = half.global_index
        self.sets = []
        for s in half.sides:
            t = s['title'] + '\n' + s['summary']
            self.sets.append((numbers(t), caps(t), places(t)))
        self.emb = {}
        from digest import EMB
        self.X = {}
        for k in ['title', 'ts']:
            X = EMB[k][gi].astype(np.float32)
            self.X[k] = X
            C = X @ X.T
            np.fill_diagonal(C, -np.inf)
            srt = -np.sort(-C, axis=1)
            self.emb[k] = (C, {kk: srt[:, :kk].mean(1) for kk in (2, 4, 8)})
        self.cache = {}

    def pair_cos(self, k, a, b):
        """The pair's own cosine as research16 computed it (elementwise sum), or the matmul one (clean)."""
        if self.artifact:
            return np.float32((self.X[k][[a]] * self.X[k][[b]]).sum(1)[0])
        return self.emb[k][0][a, b]

    def feature(self, name, a, b):
        h = self.h
        if name in ('num_jacc', 'num_shared', 'num_conflict_sum', 'cap_jacc', 'cap_shared', 'cap_conflict_sum', 'place_jacc', 'place_conflict_sum'):
            (na, ca, pa), (nb, cb, pb) = self.sets[a], self.sets[b]
            mixed = h.kind[a][b] == 2
            return {'num_jacc': lambda: jac(na, nb), 'num_shared': lambda: min(len(na & nb), 3),
                    'num_conflict_sum': lambda: float(bool(na) and bool(nb) and not (na & nb)),
                    'cap_jacc': lambda: jac(ca, cb), 'cap_shared': lambda: min(len(ca & cb), 3),
                    'cap_conflict_sum': lambda: float(bool(ca) and bool(cb) and not (ca & cb) and not mixed),
                    'place_jacc': lambda: jac(pa, pb),
                    'place_conflict_sum': lambda: float(bool(pa) and bool(pb) and not (pa & pb))}[name]()
        if name.startswith('cos_'):
            return float(self.pair_cos(name[4:], a, b))
        m = re.match(r'(mdist|mratio)_(title|ts)_(all|half)_k(\d)$', name)
        if m:
            C, knn = self.emb[m.group(2)]
            c = self.pair_cos(m.group(2), a, b); den = (knn[int(m.group(4))][a] + knn[int(m.group(4))][b]) / 2
            return float(c - den if m.group(1) == 'mdist' else c / den)
        m = re.match(r'(logrank|mutualnn)_(title|ts)_(all|half)$', name)
        if m:
            C, _ = self.emb[m.group(2)]
            c = self.pair_cos(m.group(2), a, b)
            ra = int((C[a] > c).sum()) + 1; rb = int((C[b] > c).sum()) + 1
            return -np.log(max(ra, rb)) if m.group(1) == 'logrank' else float(ra == 1 and rb == 1)
        raise KeyError(name)

    def row(self, a, b, ex):
        j = self.h.judged(a, b, True)
        r = dict(words=j['words'], across=j['across'] or 0.0, meaning=j['meaning'], scripts=rs.SCRIPTS[j['scripts']],
                 ids=float(j['ids_conflict']), numbers=float(j['numbers_conflict']), dates=float(j['dates_conflict']),
                 places=float(j['places_conflict']), names=float(j['names_conflict']), shared=float(j['shared_names']))
        return base(r) + [self.feature(n, a, b) for n in ex], j['scripts']

def scorer(g, ex, half, artifact=True):
    """score_of(half, lead, item) -> (probability, scripts) for digest.choose_thresholds / evaluate."""
    df = DigestFeatures(half, artifact)
    cache = {}
    def score_of(h, l, i):
        k = (l, i)
        if k not in cache:
            x, sc = df.row(l, i, ex)
            z = float(g(np.array([x]))[0])
            cache[k] = (1.0 / (1.0 + np.exp(-z)), sc)
        return cache[k]
    return score_of, df
