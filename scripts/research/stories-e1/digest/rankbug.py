"""research16's logrank/mutualnn features compare matmul cosines with an elementwise-sum cosine of the pair itself:
when the matmul value of the pair rounds above the elementwise one, the partner outranks itself (rank+1)."""
import numpy as np, json
E = np.load('/tmp/research16/emb.npz'); rows = json.load(open('/tmp/research16/feats.json'))
reports = json.load(open('/tmp/research16/reports.json'))
split = np.array([r['split'] for r in reports]); N = len(reports); A = np.arange(0, N, 2); B = A + 1
for emb in ['title', 'ts']:
    X = E[emb]; C = X @ X.T; np.fill_diagonal(C, -np.inf); C[split[:, None] != split[None, :]] = -np.inf
    c_el = (X[A] * X[B]).sum(1); c_mm = C[A, B]
    ra = (C[A] > c_el[:, None]).sum(1) + 1; rb = (C[B] > c_el[:, None]).sum(1) + 1
    ra2 = (C[A] > c_mm[:, None]).sum(1) + 1; rb2 = (C[B] > c_mm[:, None]).sum(1) + 1
    ok = np.allclose(-np.log(np.maximum(ra, rb)), [r[f'logrank_{emb}_half'] for r in rows])
    print(emb, 'elementwise reproduces feats.json:', ok, '| pairs whose rank the artifact changes:', int((np.maximum(ra, rb) != np.maximum(ra2, rb2)).sum()), 'of', len(A),
          '| mutualNN by feats.json', int(sum(r[f'mutualnn_{emb}_half'] for r in rows)), 'clean', int(((ra2 == 1) & (rb2 == 1)).sum()))
