from combos import *
import collections
pairs = {json.loads(l)['id']: json.loads(l) for l in open('/work/main/tests/fixtures/stories/pairs.jsonl', encoding='utf-8')}
name = sys.argv[1] if len(sys.argv) > 1 else 'kitchen sink'
o = run(SETS[name])
pred = o['pred']
for s, m in [('tune', TUNE), ('test', TEST)]:
    fp = [rows[i] for i in np.where(m & pred & ~Y)[0]]
    fn = [rows[i] for i in np.where(m & ~pred & Y)[0]]
    print(s, 'FP by kind', collections.Counter(r['kind'] for r in fp), 'FN by kind', collections.Counter(r['kind'] for r in fn))
    if s in (sys.argv[2:] or ["test"]):
        for tag, lst in [('FP', fp), ('FN', fn)]:
            for r in lst:
                p = pairs[r['id']]
                print(f" {tag} {r['id']} {r['kind']}: {p['a']['title']} || {p['b']['title']}  (note: {p.get('note','')})")
