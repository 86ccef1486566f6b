"""Validate the Python replica (rs.py) against the Rust pair signals (/tmp/stories-signals.jsonl)."""
import json, numpy as np, rs
pairs = [json.loads(l) for l in open(f'{rs.MAIN}/tests/fixtures/stories/pairs.jsonl', encoding='utf-8') if l.strip()]
sig = {json.loads(l)['id']: json.loads(l) for l in open('/tmp/stories-signals.jsonl')}
E = np.load('/tmp/research16/emb.npz')
T = rs.round_trip(E['title'])
terms = [rs.terms(p[s]['title'], p[s]['summary']) for p in pairs for s in 'ab']
corpus = rs.Corpus(terms)
vec = [corpus.vector(t) for t in terms]
keys = ['words', 'meaning', 'score']
flags = ['ids_conflict', 'numbers_conflict', 'dates_conflict', 'places_conflict', 'names_conflict', 'shared_names', 'same', 'scripts']
maxd = {k: 0.0 for k in keys + ['across']}; bad = {k: 0 for k in flags}
tp = fp = fn = 0; tpw = fpw = fnw = 0
for i, p in enumerate(pairs):
    m = float(T[2 * i] @ T[2 * i + 1])
    j = rs.judge(vec[2 * i], vec[2 * i + 1], m)
    s = sig[p['id']]['scores']
    for k in keys:
        d = abs(j[k] - s[k])
        if d > maxd[k]:
            maxd[k] = d
        if k == 'score' and d > 1e-3:
            print('score diff', p['id'], j[k], s[k], j['words'], s['words'], j['meaning'], s['meaning'])
    a, b = j['across'], s['across']
    if (a is None) != (b is None):
        print('across None mismatch', p['id'], a, b)
    elif a is not None:
        maxd['across'] = max(maxd['across'], abs(a - b))
    for k in flags:
        v = rs.SCRIPTS[j[k]] if k == 'scripts' else j[k]
        if v != s[k]:
            bad[k] += 1
            print('mismatch', k, p['id'], v, s[k], p['a']['title'], '|', p['b']['title'])
    if p['split'] == 'test':
        tp += j['same'] and p['same']; fp += j['same'] and not p['same']; fn += (not j['same']) and p['same']
        w = rs.judge(vec[2 * i], vec[2 * i + 1], None)
        tpw += w['same'] and p['same']; fpw += w['same'] and not p['same']; fnw += (not w['same']) and p['same']
print('max abs diff', maxd); print('flag mismatches', bad)
print(f'test pairs with meaning: P {tp/(tp+fp):.3f} R {tp/(tp+fn):.3f} (Rust 0.912/0.554);  by words: P {tpw/(tpw+fpw):.3f} R {tpw/(tpw+fnw):.3f} (Rust 0.913/0.562)')
