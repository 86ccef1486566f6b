"""The digest evaluation of tests/integration/stories.rs (fold_half_by), in Python."""
import json, numpy as np, rs
PAIRS = [json.loads(l) for l in open(f'{rs.MAIN}/tests/fixtures/stories/pairs.jsonl', encoding='utf-8') if l.strip()]
EVENTS = json.load(open(f'{rs.MAIN}/tests/fixtures/stories/events.json'))
EMB = np.load('/tmp/research16/emb.npz')
IDX = {p['id']: i for i, p in enumerate(PAIRS)}

class Half:
    """Every report of one half in pair order (a, b), each its own feed, no times."""
    def __init__(self, split):
        self.split = split
        self.chosen = [p for p in PAIRS if p['split'] == split]
        self.sides = [p[s] for p in self.chosen for s in 'ab']
        self.global_index = np.array([2 * IDX[p['id']] + k for p in self.chosen for k in (0, 1)])  # rows of emb.npz
        self.terms = [rs.terms(s['title'], s['summary']) for s in self.sides]
        corpus = rs.Corpus(self.terms)
        self.vectors = [corpus.vector(t) for t in self.terms]
        self.titles = rs.round_trip(EMB['title'][self.global_index])
        self.cos = self.titles @ self.titles.T
        n = len(self.sides)
        # events: union-find as the Rust test
        ev = list(range(n))
        def root(x):
            while ev[x] != x:
                ev[x] = ev[ev[x]]; x = ev[x]
            return x
        def join(x, y):
            x, y = root(x), root(y); ev[x] = y
        pos = {p['id']: k for k, p in enumerate(self.chosen)}
        for g in EVENTS:
            mem = []
            for r in g:
                pid, side = r.rsplit(':', 1)
                if pid in pos:
                    mem.append(2 * pos[pid] + (side == 'b'))
            for a, b in zip(mem, mem[1:]):
                join(a, b)
        for x in range(n):
            if self.chosen[x // 2]['same'] and x % 2 == 0:
                join(x, x + 1)
            for y in range(x + 1, n):
                if self.sides[x]['title'] == self.sides[y]['title'] or self.sides[x]['summary'] == self.sides[y]['summary']:
                    join(x, y)
        self.event = [root(x) for x in range(n)]
        self.kind = [[rs.scripts_of(self.terms[x], self.terms[y]) for y in range(n)] for x in range(n)]
        self._judged = {}

    def judged(self, lead, item, meaning=True):
        k = (lead, item, meaning)
        if k not in self._judged:
            m = float(self.cos[lead, item]) if meaning else None
            self._judged[k] = rs.judge(self.vectors[lead], self.vectors[item], m)
        return self._judged[k]

    def fold(self, decide, meaning=True, **kw):
        return rs.fold_with(self.vectors, self.titles if meaning else None, decide, **kw)

    def count(self, stories, scripts=None):
        right = wrong = 0; wrongs = []
        for g in stories:
            for a in range(len(g)):
                for b in range(a + 1, len(g)):
                    x, y = g[a], g[b]
                    if scripts is not None and self.kind[x][y] != scripts:
                        continue
                    if self.event[x] == self.event[y]:
                        right += 1
                    else:
                        wrong += 1; wrongs.append((x, y))
        n = len(self.sides)
        to_find = sum(1 for x in range(n) for y in range(x + 1, n)
                      if (scripts is None or self.kind[x][y] == scripts) and self.event[x] == self.event[y])
        return right, wrong, to_find, wrongs

def pr(c):
    right, wrong, to_find = c[:3]
    return right / max(right + wrong, 1), right / max(to_find, 1)

def f05(p, r):
    return 1.25 * p * r / max(0.25 * p + r, 1e-300)

GRID = [s / 20 for s in range(19, 5, -1)]  # 0.95 .. 0.30, as the Rust test

def choose_thresholds(half, score_of, meaning=True, grid=GRID, verbose=False, **kw):
    """score_of(half, lead, item) -> (score, scripts). Per kind: best F0.5 on the half's digest (others at 0.99)."""
    chosen = []
    table = {}
    for sc in range(3):
        best = None
        for t in grid:
            def decide(l, i, sc=sc, t=t):
                s, k = score_of(half, l, i)
                return s >= (t if k == sc else 0.99), s
            c = half.count(half.fold(decide, meaning, **kw), sc)
            p, r = pr(c); f = f05(p, r)
            table[(sc, t)] = (c[0], c[1], c[2], p, r, f)
            if verbose:
                print(f'   {rs.SCRIPTS[sc]} t={t:.3f}: {c[0]} right {c[1]} wrong of {c[2]}  P {p:.3f} R {r:.3f} F0.5 {f:.3f}')
            if best is None or f > best[0] + 1e-9:
                best = (f, t)
        chosen.append(best[1])
    return chosen, table

def evaluate(half, score_of, th, meaning=True, **kw):
    def decide(l, i):
        s, k = score_of(half, l, i)
        return s >= th[k], s
    st = half.fold(decide, meaning, **kw)
    return half.count(st), st
