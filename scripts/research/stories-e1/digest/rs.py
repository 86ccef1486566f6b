"""Python replica of feed-digest's story signals and folding (src/stories.rs, src/stories/evidence.rs,
src/topics.rs fold_forms/normalize, src/variants.rs, src/stories/packed.rs, encoder.rs near_pairs)."""
import re, math
import numpy as np

MAIN = '/work/main'
_tab = open(f'{MAIN}/src/variants/table.rs', encoding='utf-8').read()
_body = _tab.split('TRAD_TO_SIMP: &[(char, char)] = &[')[1].split('];')[0]
T2S = {a: b for a, b in re.findall(r"\('(.)', '(.)'\)", _body)}
assert len(T2S) == 3222, len(T2S)

def fold_char(c):
    return T2S.get(c, c) if c >= '\u3400' else c

def fold_forms(text):
    out = []
    for c in text:
        c = fold_char(c)
        o = ord(c)
        if 0xFF01 <= o <= 0xFF5E:
            c = chr(o - 0xFEE0)
        elif o == 0x3000:
            c = ' '
        out.append(c)
    return ''.join(out)

def normalize(text):
    return fold_forms(text).lower()

def fnv1a(s):
    h = 0xcbf29ce484222325
    for b in s.encode('utf-8'):
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h

def is_cjk_stories(c):  # stories.rs is_cjk
    o = ord(c)
    return (0x3040 <= o <= 0x30FF or 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7A3
            or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x2FA1F)

def is_cjk_text(c):  # text.rs is_cjk
    o = ord(c)
    return (0x2E80 <= o <= 0x2FDF or 0x3000 <= o <= 0x303F or 0x3040 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF
            or 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0xFE30 <= o <= 0xFE4F
            or 0xFF00 <= o <= 0xFF60 or 0x20000 <= o <= 0x3134F)

def is_alnum(c):  # Rust char::is_alphanumeric (approx: Python isalnum)
    return c.isalnum()

CJK_STOP = set('的了在是和与及将已对为年月日')
_src = open(f'{MAIN}/src/stories.rs', encoding='utf-8').read()
STOP_WORDS = set(re.findall(r'"([a-z]+)"', _src.split('const STOP_WORDS')[1].split('];')[0]))
assert len(STOP_WORDS) > 100

def word_term(word):
    if word[0].isascii() and word[0].isdigit():
        return word.replace(',', '')
    if len(word) < 2 or word in STOP_WORDS:
        return None
    if word.endswith('ies') and len(word[:-3].encode()) > 2:
        return word[:-3] + 'y'
    if word.endswith('ss') or len(word.encode()) <= 3:
        return word
    return word[:-1] if word.endswith('s') else word

def tokens(text):
    """[(text, cjk)]"""
    out = []
    n = len(text); i = 0
    while i < n:
        c = text[i]
        if is_cjk_stories(c):
            end = i
            while end < n and is_cjk_stories(text[end]):
                end += 1
            run = text[i:end]
            for ch in run:
                if ch not in CJK_STOP:
                    out.append((ch, True))
            for k in range(len(run) - 1):
                out.append((run[k:k + 2], True))
            i = end
        elif is_alnum(c):
            end = i
            while end < n:
                ch = text[end]
                inside = ch in '.,' and text[i].isascii() and text[i].isdigit() and end + 1 < n and text[end + 1].isascii() and text[end + 1].isdigit()
                if (is_alnum(ch) and not is_cjk_stories(ch)) or inside:
                    end += 1
                else:
                    break
            word = text[i:end]
            i = end
            w = word_term(word)
            if w is not None:
                out.append((w, False))
        else:
            i += 1
    return out

# ---------------- evidence.rs ----------------
_ev = open(f'{MAIN}/src/stories/evidence.rs', encoding='utf-8').read()
PLACES = re.findall(r'^\s*"([^"]+)",\s*$', _ev.split('const PLACES')[1].split('];')[0], re.M)
COMMON = set(re.findall(r'"([a-z]+)"', _ev.split('const COMMON')[1].split('];')[0]))
assert len(PLACES) > 200 and 'with' in COMMON
CNDIG = '零一二三四五六七八九'

def isd(c):
    return c.isascii() and c.isdigit()

def chinese_number(chars, at):
    end = at; total = 0; current = 0
    while end < len(chars):
        c = chars[end]
        if c == '两':
            current = 2
        elif c in CNDIG:
            current = CNDIG.index(c)
        elif c in '十百千':
            total += max(current, 1) * {'十': 10, '百': 100, '千': 1000}[c]; current = 0
        else:
            break
        end += 1
    length = end - at
    ordinal = at > 0 and chars[at - 1] == '第'
    if length >= 2 or (length == 1 and ordinal):
        return total + current, end
    return None

def numbers(text):
    chars = text; out = []; i = 0; n = len(chars)
    while i < n:
        if isd(chars[i]):
            end = i; value = ''
            while end < n:
                c = chars[end]
                inside = c in '.,' and end + 1 < n and isd(chars[end + 1])
                if isd(c) or (c == '.' and inside):
                    value += c
                elif not (c == ',' and inside):
                    break
                end += 1
            out.append(value); i = end
        else:
            r = chinese_number(chars, i)
            if r:
                out.append(str(r[0])); i = r[1]
            else:
                i += 1
    return out

def word_before(chars, at):
    end = at
    while end > 0 and chars[end - 1] in ' .':
        end -= 1
    start = end
    while start > 0 and chars[start - 1].isascii() and chars[start - 1].isalpha():
        start -= 1
    return chars[start:end].lower()

def identifiers(text):
    chars = text; out = []; i = 0; n = len(chars)
    while i < n:
        start = i
        if isd(chars[i]):
            end = i
            while end < n and (isd(chars[end]) or (chars[end] == '.' and end + 1 < n and isd(chars[end + 1]))):
                end += 1
            value = chars[i:end]
        else:
            r = chinese_number(chars, i)
            if r is None:
                i += 1; continue
            value, end = str(r[0]), r[1]
        before = word_before(chars, start)
        after = chars[end] if end < n else None
        aw = ''
        k = end
        while k < n and chars[k].isascii() and chars[k].isalpha():
            aw += chars[k]; k += 1
        aw = aw.lower()
        named = (after is not None and after in '级号次届期代组批轮') or \
                (end > start and chars[max(start - 1, 0)] == '第' and start > 0) or \
                aw in ('th', 'st', 'nd', 'rd') or \
                before in ('magnitude', 'category', 'game', 'no', 'round', 'week', 'stage')
        if named:
            out.append(value)
        i = max(end, i + 1)
    return out

def latin_words(text):
    out = []; start = None
    seq = list(text) + [' ']
    for at, c in enumerate(seq):
        nxt = seq[at + 1] if at + 1 < len(seq) - 1 else None  # the sentinel is not a byte of text
        inner = c in "-'’" and start is not None and nxt is not None and nxt.isascii() and nxt.isalnum()
        if (c.isascii() and c.isalnum()) or inner:
            if start is None:
                start = at
        elif start is not None:
            word = text[start:at]; start = None
            if word.endswith("'s"):
                word = word[:-2]
            elif word.endswith("’s"):
                word = word[:-2]
            out.append(word)
    return out

def title_case(words):
    long = [w for w in words if len(w.encode()) > 3]
    return len(long) >= 3 and all(w[0].isascii() and w[0].isupper() for w in long)

def names(title, whole):
    out = []
    words = latin_words(title)
    ww = None
    for index, word in enumerate(words):
        lower = word.lower()
        if lower in COMMON or not any(c.isascii() and c.isalpha() for c in word):
            continue
        capitals = sum(1 for c in word if c.isascii() and c.isupper())
        all_caps = capitals >= 2 and capitals == sum(1 for c in word if c.isascii() and c.isalpha())
        capitalised = bool(word) and word[0].isascii() and word[0].isupper()
        def later():
            nonlocal ww
            if ww is None:
                ww = latin_words(whole)
            return any(w == word and w[0].isascii() and w[0].isupper() for w in ww[1:])
        if all_caps or (capitalised and (index > 0 or later()) and (not title_case(words) or later())):
            out.append(lower)
    return out

def places(text):
    if not any(is_cjk_text(c) for c in text):
        return []
    return [p for p in PLACES if p in text]

_ZH = re.compile(r"(\d{1,2})月(?:份)?(?:(\d{1,2})日)?|(\d{1,2})日|(?:周|星期)([一二三四五六日天])")
_EN = re.compile(r"\b(?:(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)|(January|February|March|April|May|June|July|August|September|October|November|December)\b(?: (\d{1,2})\b)?|(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.? (\d{1,2})\b)")
WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday']
MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

def _num(s, mx):
    if s is None:
        return []
    try:
        v = int(s) if s.isascii() else None
    except ValueError:
        v = None
    return [v] if v is not None and 1 <= v <= mx and v < 256 else []

def dates_of(text):
    days, months, wds = set(), set(), set()
    for m in _ZH.finditer(text):
        months.update(_num(m.group(1), 12))
        days.update(_num(m.group(2) if m.group(2) is not None else m.group(3), 31))
        if m.group(4):
            k = '一二三四五六'.find(m.group(4))
            wds.add(6 if k < 0 else k)
    for m in _EN.finditer(text):
        if m.group(1):
            wds.add(WEEKDAYS.index(m.group(1)))
        for mo, dy in [(2, 3), (4, 5)]:
            if m.group(mo):
                nm = m.group(mo)[:3]
                if nm in MONTHS:
                    months.add(MONTHS.index(nm) + 1)
                days.update(_num(m.group(dy), 31))
    return (days, wds, months)

def dates_conflict(a, b):
    for x, y in zip(a, b):
        if x and y:
            return not (x & y)
    return False

class Spec:
    pass

def specifics(title, lead):
    title = fold_forms(title); lead = fold_forms(lead)
    whole = title + '\n' + lead
    s = Spec()
    s.title_numbers = set(numbers(title)); s.numbers = set(numbers(whole))
    s.dates = dates_of(whole)
    s.title_ids = set(identifiers(title)); s.ids = set(identifiers(whole))
    s.title_places = set(places(title)); s.places = set(places(whole))
    s.title_names = set(names(title, whole))
    lw = latin_words(title)
    tf = None
    if lw and lw[0][0].isascii() and lw[0][0].isupper() and lw[0].lower() not in COMMON:
        tf = lw[0].lower()
    s.title_first = tf
    s.capitalised = set(w.lower() for w in latin_words(whole) if w[0].isascii() and w[0].isupper())
    s.text = whole.lower()
    s.whole = whole
    return s

def relate(a, b, same_script):
    unshared = lambda mine, theirs: any(x not in theirs for x in mine)
    r = {}
    r['ids_conflict'] = bool(a.title_ids) and bool(b.title_ids) and unshared(a.title_ids, b.ids) and unshared(b.title_ids, a.ids)
    r['numbers_conflict'] = bool(a.title_numbers) and bool(b.title_numbers) and not (a.title_numbers & b.numbers) and not (b.title_numbers & a.numbers)
    r['places_conflict'] = bool(a.title_places) and bool(b.title_places) and not (a.title_places & b.places) and not (b.title_places & a.places)
    missing = lambda ns, text: any(n not in text for n in ns)
    r['names_conflict'] = same_script and missing(a.title_names, b.text) and missing(b.title_names, a.text)
    cands = set(a.title_names) | set(b.title_names)
    for s in (a, b):
        if s.title_first is not None:
            cands.add(s.title_first)
    r['shared_names'] = min(sum(1 for n in cands if n in a.capitalised and n in b.capitalised), 3)
    r['dates_conflict'] = dates_conflict(a.dates, b.dates)
    return r

def conflict(r):
    return r['ids_conflict'] or r['dates_conflict'] or r['places_conflict'] or r['names_conflict']

# ---------------- terms, corpus, vectors ----------------
class Terms:
    pass

def terms(title, summary):
    counts = {}; latin = set(); cjk_chars = 0; title_chars = 0
    for text, weight in [(title, 2.0), (summary, 1.0)]:
        folded = normalize(text[:400])
        for tok, cj in tokens(folded):
            if weight == 2.0:
                title_chars += len(tok)
                if cj:
                    cjk_chars += len(tok)
            h = fnv1a(tok)
            if not cj:
                latin.add(h)
            counts[h] = counts.get(h, 0.0) + weight
    t = Terms()
    t.all = sorted(counts.items())
    t.latin = latin
    t.cjk = cjk_chars * 2 > title_chars
    t.specifics = specifics(title, summary[:400])
    return t

PRIOR_DOCS = 100.0
f32 = np.float32

class Corpus:
    def __init__(self, docs):
        self.df = {}; self.docs = 0
        for t in docs:
            self.docs += 1
            for h, _ in t.all:
                self.df[h] = self.df.get(h, 0) + 1
    def idf(self, h):
        return f32(np.log(f32((f32(self.docs) + f32(PRIOR_DOCS) + f32(1.0)) / f32(f32(self.df.get(h, 0)) + f32(0.5)))))
    def vector(self, t):
        w = [(h, f32(f32(1.0) + f32(np.log(f32(tf)))) * self.idf(h)) for h, tf in t.all]
        norm = f32(0.0)
        for _, x in w:
            norm = f32(norm + x * x)
        norm = f32(np.sqrt(norm))
        if norm > 0:
            w = [(h, f32(x / norm)) for h, x in w]
        v = Vec(); v.weights = dict(w); v.sorted = w; v.terms = t
        return v

class Vec:
    def key_terms(self, k=16):
        by = sorted(self.sorted, key=lambda hw: (-float(hw[1]), hw[0]))
        return [h for h, _ in by[:k]]

def cosine(a, b):
    dot = f32(0.0)
    wb = b.weights
    for h, x in a.sorted:
        y = wb.get(h)
        if y is not None:
            dot = f32(dot + x * y)
    return float(dot)

def across_scripts(a, b):
    if a.terms.cjk and not b.terms.cjk:
        cj, ot = a.terms, b.terms
    elif b.terms.cjk and not a.terms.cjk:
        cj, ot = b.terms, a.terms
    else:
        return None
    if len(cj.latin) < 2:
        return None
    shared = len(cj.latin & ot.latin)
    return shared / len(cj.latin) if shared >= 2 else None

RULES = {
    False: dict(bias=-1.71, words=8.30, words_cjk=-0.26, across=4.03, meaning=0.0, meaning_across=0.0, ids=-6.96,
                numbers=-1.48, dates=-5.57, places=-2.40, names=-1.50, shared=-0.09, thresholds=[0.65, 0.80, 0.50]),
    True: dict(bias=-3.03, words=7.03, words_cjk=-0.03, across=2.13, meaning=3.07, meaning_across=1.49, ids=-7.65,
               numbers=-1.53, dates=-6.10, places=-2.62, names=-1.48, shared=-0.11, thresholds=[0.65, 0.80, 0.45]),
}
SCRIPTS = ['chinese', 'other', 'mixed']

def scripts_of(ta, tb):
    return 0 if (ta.cjk and tb.cjk) else (1 if (not ta.cjk and not tb.cjk) else 2)

def judge(a, b, meaning=None):
    across = across_scripts(a, b)
    same_script = a.terms.cjk == b.terms.cjk
    rel = relate(a.terms.specifics, b.terms.specifics, same_script)
    words = cosine(a, b)
    R = RULES[meaning is not None]
    fl = lambda x: 1.0 if x else 0.0
    m = meaning or 0.0
    z = (R['bias'] + R['words'] * words + R['words_cjk'] * words * fl(a.terms.cjk and b.terms.cjk)
         + R['across'] * (across or 0.0) + R['meaning'] * m + R['meaning_across'] * m * fl(not same_script)
         + R['ids'] * fl(rel['ids_conflict']) + R['numbers'] * fl(rel['numbers_conflict'])
         + R['dates'] * fl(rel['dates_conflict']) + R['places'] * fl(rel['places_conflict'])
         + R['names'] * fl(rel['names_conflict']) + R['shared'] * rel['shared_names'])
    score = 1.0 / (1.0 + math.exp(-z))
    sc = scripts_of(a.terms, b.terms)
    d = dict(scripts=sc, words=words, across=across, meaning=meaning, score=score, same=score >= R['thresholds'][sc])
    d.update(rel)
    return d

# ---------------- packed embeddings ----------------
def round_trip(E):
    E = np.asarray(E, dtype=np.float32)
    largest = np.abs(E).max(1, keepdims=True)
    scale = np.where(largest > 0, largest / np.float32(127.0), np.float32(1.0)).astype(np.float32)
    q = np.clip(np.trunc(E / scale + np.copysign(0.5, E / scale)), -127, 127).astype(np.float32)  # f32::round: half away from zero
    out = q * scale
    out /= np.sqrt((out * out).sum(1, keepdims=True))
    return out.astype(np.float32)

# ---------------- folding ----------------
def fold_with(vectors, titles, decide, key_terms=16, max_postings=64, meaning_candidate=0.45, all_leads=False):
    """decide(lead_index, item_index) -> (same: bool, score: float). Returns list of stories [lead, *folded].
    Feeds all distinct, no times (as the digest evaluation)."""
    n = len(vectors)
    near = None
    if titles is not None:
        C = titles @ titles.T
        near = [[j for j in range(i) if C[i, j] >= np.float32(meaning_candidate)] for i in range(n)]
    by_term = {}
    stories = []
    leads = [None] * n
    keys_of = [v.key_terms(key_terms) for v in vectors]
    for index in range(n):
        keys = keys_of[index]
        cands = []
        if all_leads:
            cands = list(range(len(stories)))
        else:
            if near is not None:
                cands += [leads[j] for j in near[index] if leads[j] is not None]
            for h in keys:
                post = by_term.get(h)
                if post:
                    cands += post[::-1][:max_postings]
        seen = set(); chosen = None
        for st in cands:
            if st in seen:
                continue
            seen.add(st)
            group = stories[st]
            same, score = decide(group[0], index)
            if not same:
                continue
            if chosen is not None and not (score > chosen[1]):
                continue
            v = vectors[index]
            contradicts = any(conflict(relate(vectors[m].terms.specifics, v.terms.specifics,
                                              vectors[m].terms.cjk == v.terms.cjk)) for m in group[1:])
            if not contradicts:
                chosen = (st, score)
        if chosen is not None:
            stories[chosen[0]].append(index)
        else:
            for h in keys:
                by_term.setdefault(h, []).append(len(stories))
            leads[index] = len(stories)
            stories.append([index])
    return stories
