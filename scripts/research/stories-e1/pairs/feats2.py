"""Extra cheap features, motivated by tune errors: template detection (conflicting numbers with
high overlap) and title-only date conflicts. Adds to feats.json -> feats.json (in place)."""
import json, re
rows = json.load(open('feats.json'))
pairs = {json.loads(l)['id']: json.loads(l) for l in open('/work/main/tests/fixtures/stories/pairs.jsonl', encoding='utf-8')}
WD = ['monday','tuesday','wednesday','thursday','friday','saturday','sunday']
MO = ['jan','feb','mar','apr','may','jun','jul','aug','sep','oct','nov','dec']
def dates(t):
    d = {'days': set(), 'weekdays': set(), 'months': set()}
    for m in re.finditer(r'(\d{1,2})月(?:份)?(?:(\d{1,2})[日号])?|(\d{1,2})日|(?:周|星期|週)([一二三四五六日天])', t):
        if m.group(1): d['months'].add(int(m.group(1)))
        if m.group(2) or m.group(3): d['days'].add(int(m.group(2) or m.group(3)))
        if m.group(4): d['weekdays'].add('一二三四五六'.find(m.group(4)) % 7)
    for m in re.finditer(r'\b(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)|\b(January|February|March|April|May|June|July|August|September|October|November|December)\b(?: (\d{1,2})\b)?', t):
        if m.group(1): d['weekdays'].add(WD.index(m.group(1).lower()))
        if m.group(2):
            d['months'].add(MO.index(m.group(2)[:3].lower()) + 1)
            if m.group(3): d['days'].add(int(m.group(3)))
    return d
def conflict(a, b):
    for k in ['days', 'weekdays', 'months']:
        if a[k] and b[k]:
            return float(not (a[k] & b[k]))
    return 0.0
for r in rows:
    p = pairs[r['id']]
    r['title_dates_conflict'] = conflict(dates(p['a']['title']), dates(p['b']['title']))
    r['nx_words'] = r['numbers'] * r['words']
    r['nx_cos_ts'] = r['numbers'] * r['cos_ts']
    r['nsum_x_words'] = r['num_conflict_sum'] * r['words']
json.dump(rows, open('feats.json', 'w'))
import collections
print(collections.Counter((r['split'], r['same']) for r in rows if r['title_dates_conflict']))
