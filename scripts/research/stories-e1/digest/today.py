"""Row 'today': the Rust rules (by words; by meaning and words) in the Python digest replica, both halves,
and the threshold choice of the_thresholds_are_the_ones_a_digest_of_the_tuning_half_supports."""
import sys, rs
from digest import *
def score_of(meaning):
    return lambda h, l, i: (lambda j: (j['score'], j['scripts']))(h.judged(l, i, meaning))
for split in ['tune', 'test']:
    h = Half(split)
    for meaning in [False, True]:
        th = rs.RULES[meaning]['thresholds']
        c, st = evaluate(h, score_of(meaning), th, meaning)
        p, r = pr(c)
        print(f'digest {split} {"with meaning" if meaning else "by words"}: {c[0]} right, {c[1]} wrong, of {c[2]}: P {p:.3f} R {r:.3f}')
        if split == 'test' and '-v' in sys.argv:
            for x, y in c[3]:
                print('   wrong:', h.sides[x]['title'], '|', h.sides[y]['title'])
    if split == 'tune' and '--thresholds' in sys.argv:
        for meaning in [False, True]:
            th, _ = choose_thresholds(h, score_of(meaning), meaning, verbose=False)
            print(f'  tune-chosen thresholds ({"meaning" if meaning else "words"}): {th}  (Rust constants {rs.RULES[meaning]["thresholds"]})')
