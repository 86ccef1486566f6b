"""Each single score alone: threshold on tune at precision >= 0.95, figures on test."""
from common import *
import sys
keys = [k for k in rows[0] if isinstance(rows[0][k], float) and k not in ('ids','numbers','dates','places','names','shared')]
res = []
for k in keys:
    s = arr(rows, k)
    if k.startswith('rankmax'): s = -s
    o = evaluate(s)
    res.append((o['auc test'], k, o))
res.sort(reverse=True)
for a, k, o in res:
    print(f"{k:28s} {fmt(o)}")
