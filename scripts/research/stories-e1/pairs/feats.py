"""Per-pair features: embedding cosines (several texts), cross-cosines, LASER margins,
mutual-NN ranks, and summary-level specifics overlap. Writes feats.json."""
import json, re
import numpy as np

E = np.load('emb.npz')
reports = json.load(open('reports.json'))
pairs = [json.loads(l) for l in open('/work/main/tests/fixtures/stories/pairs.jsonl', encoding='utf-8') if l.strip()]
sig = {json.loads(l)['id']: json.loads(l) for l in open('/tmp/stories-signals.jsonl')}
N = len(reports)
split = np.array([r['split'] for r in reports])
A = np.arange(0, N, 2); B = A + 1

def cos_pairs(M):
    return (M[A] * M[B]).sum(1)

feats = {}
for k in ['title', 'summary', 'ts', 'ts200', 'first', 'tfirst']:
    feats['cos_' + k] = cos_pairs(E[k])
T, S = E['title'], E['summary']
cross = np.stack([(T[A]*T[B]).sum(1), (T[A]*S[B]).sum(1), (S[A]*T[B]).sum(1), (S[A]*S[B]).sum(1)], 1)
feats['cross_max'] = cross.max(1); feats['cross_mean'] = cross.mean(1)
feats['cross_ts_max'] = cross[:, 1:3].max(1)
# sentence-level: title + each summary sentence, max and mean of best-match
own = E['sent_owner']
units = [[T[i]] + [E['sent'][j] for j in np.where(own == i)[0]] for i in range(N)]
smax, sbm = [], []
for a, b in zip(A, B):
    M = np.array(units[a]) @ np.array(units[b]).T
    smax.append(M.max()); sbm.append((M.max(1).mean() + M.max(0).mean()) / 2)
feats['sent_max'] = np.array(smax); feats['sent_bestmatch'] = np.array(sbm)
# mean of the three main embeddings (cheap ensemble)
feats['cos_avg3'] = (feats['cos_title'] + feats['cos_summary'] + feats['cos_ts']) / 3

# LASER margins: neighbourhoods within the same half or among all 904
for emb in ['title', 'ts', 'summary', 'ts200', 'tfirst']:
    X = E[emb]
    C = X @ X.T
    np.fill_diagonal(C, -np.inf)
    for scope in ['half', 'all']:
        Cs = C.copy()
        if scope == 'half':
            Cs[split[:, None] != split[None, :]] = -np.inf
        for excl in [False, True]:
            Ce = Cs.copy()
            if excl:  # the candidate itself left out of each side's neighbourhood
                Ce[A, B] = -np.inf; Ce[B, A] = -np.inf
            srt = -np.sort(-Ce, axis=1)
            for k in [2, 4, 8]:
                knn = srt[:, :k].mean(1)
                c = (X[A] * X[B]).sum(1)
                den = (knn[A] + knn[B]) / 2
                tag = f"{emb}_{scope}_k{k}" + ('_x' if excl else '')
                feats['mratio_' + tag] = c / den
                feats['mdist_' + tag] = c - den
        # mutual rank: rank of b among a's neighbours and vice versa (1 = nearest)
        c = (X[A] * X[B]).sum(1)
        ra = (Cs[A] > c[:, None]).sum(1) + 1
        rb = (Cs[B] > c[:, None]).sum(1) + 1
        feats[f'rankmax_{emb}_{scope}'] = np.maximum(ra, rb).astype(float)
        feats[f'mutualnn_{emb}_{scope}'] = ((ra == 1) & (rb == 1)).astype(float)
        feats[f'logrank_{emb}_{scope}'] = -np.log(np.maximum(ra, rb))

# summary-level specifics
PLACES = re.findall(r'^\s*"([^"]+)",\s*$', open('/work/main/src/stories/evidence.rs', encoding='utf-8').read().split('const PLACES')[1].split('];')[0], re.M)
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
def bigrams(s):
    s = re.sub(r'\s+', '', s.lower())
    return set(s[i:i+2] for i in range(len(s) - 1))
spec = {k: [] for k in ['num_jacc', 'num_shared', 'num_conflict_sum', 'cap_jacc', 'cap_shared', 'cap_conflict_sum',
                        'place_jacc', 'place_conflict_sum', 'bigram_jacc_sum']}
for p in pairs:
    ta = p['a']['title'] + '\n' + p['a']['summary']; tb = p['b']['title'] + '\n' + p['b']['summary']
    na, nb = numbers(ta), numbers(tb)
    spec['num_jacc'].append(jac(na, nb)); spec['num_shared'].append(min(len(na & nb), 3))
    spec['num_conflict_sum'].append(float(bool(na) and bool(nb) and not (na & nb)))
    ca, cb = caps(ta), caps(tb)
    spec['cap_jacc'].append(jac(ca, cb)); spec['cap_shared'].append(min(len(ca & cb), 3))
    spec['cap_conflict_sum'].append(float(bool(ca) and bool(cb) and not (ca & cb) and p['lang'] != 'mixed'))
    pa, pb = places(ta), places(tb)
    spec['place_jacc'].append(jac(pa, pb))
    spec['place_conflict_sum'].append(float(bool(pa) and bool(pb) and not (pa & pb)))
    spec['bigram_jacc_sum'].append(jac(bigrams(p['a']['summary']), bigrams(p['b']['summary'])) if p['lang'] != 'mixed' else 0.0)
for k, v in spec.items():
    feats[k] = np.array(v, dtype=float)

rows = []
for i, p in enumerate(pairs):
    s = sig[p['id']]['scores']
    r = dict(id=p['id'], lang=p['lang'], split=p['split'], same=p['same'], kind=p['kind'],
             words=s['words'], across=s['across'] or 0.0, meaning=s['meaning'], rust_score=s['score'], rust_same=s['same'],
             lead_meaning=sig[p['id']]['lead_meaning'], scripts=s['scripts'],
             ids=float(s['ids_conflict']), numbers=float(s['numbers_conflict']), dates=float(s['dates_conflict']),
             places=float(s['places_conflict']), names=float(s['names_conflict']), shared=float(s['shared_names']))
    for k, v in feats.items():
        r[k] = float(v[i])
    rows.append(r)
json.dump(rows, open('feats.json', 'w'))
print(len(rows), 'pairs,', len(feats), 'embedding/specifics features')
