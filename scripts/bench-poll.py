#!/usr/bin/env python3
"""Polling benchmark: feed-digest against a local server, the feed-rs parse
floor, and rss2email on the same feeds (docs/benchmarks.md, "Polling benchmark").

    scripts/bench-poll.py              # 1,000 feeds x 20 items, 3 cold/warm runs, rss2email on all
    scripts/bench-poll.py --quick      # 100 feeds: a smoke test
    scripts/bench-poll.py --r2e-feeds 200   # rss2email on the first 200 feeds, extrapolated

Everything lives under target/bench-poll/: feeds/ (generated, deterministic),
feed-digest.toml (the last run's config), venv/ (rss2email), r2e/, results-*.json.
Standard library only; rss2email is installed into the venv with pip if missing.
"""

import argparse
import datetime as dt
import hashlib
import html
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "target", "bench-poll")
FEEDS_DIR = os.path.join(WORK, "feeds")
VENV = os.path.join(WORK, "venv")
RELEASE = os.path.join(ROOT, "target", "release")
FEED_DIGEST = os.path.join(RELEASE, "feed-digest")
SERVER = os.path.join(RELEASE, "examples", "bench_feed_server")
PARSE_FLOOR = os.path.join(RELEASE, "examples", "parse_floor")
GENERATOR_VERSION = 1  # bump when the generated feeds change

TARGETS = {
    "speedup_vs_rss2email": 50.0,  # cold poll at least 50x faster than rss2email
    "cold_over_floor": 3.0,  # cold poll within 3x of the bare parse time (issue 17)
    "warm_over_cold_pct": 5.0,  # warm poll at most 5 % of cold (issue 17)
    "peak_rss_mb": 64.0,
}

# --------------------------------------------------------------------------
# Feed generation: text stocks written for this benchmark.

EN_SENTENCES = [
    "The city council approved the new budget late on Tuesday after a debate that lasted almost six hours.",
    "Engineers say the bridge will reopen to traffic in the spring, two months later than first planned.",
    "Analysts expect the central bank to hold interest rates steady at its meeting next week.",
    "The report found that rural clinics had lost a quarter of their nurses over the past five years.",
    "Volunteers spent the weekend clearing debris from the riverbank after the storm.",
    "The company said its quarterly revenue rose by eleven percent, driven by strong sales in Asia.",
    "Researchers at the university published the data set so that other teams can check their results.",
    "Local farmers worry that the dry autumn will hurt next year's wheat harvest.",
    "The museum will show the collection for the first time since it was restored.",
    "Officials declined to say when the investigation would be completed.",
    "A spokesperson for the ministry said the talks had been constructive but that no agreement was reached.",
    "The new rail line cuts the journey between the two cities to just under ninety minutes.",
    "Students staged a quiet protest outside the library to ask for longer opening hours.",
    "The software update fixes a flaw that could let an attacker read private messages.",
    "Prices for fresh vegetables climbed for the third month in a row, according to the statistics office.",
    "The festival drew more than forty thousand visitors, a record for the small coastal town.",
    "Doctors recommend that older adults get the seasonal vaccine before the end of November.",
    "The court is expected to deliver its ruling early next year.",
    "Several airlines cancelled morning flights because of heavy fog over the airport.",
    "The team's coach said the players had learned a great deal from the defeat.",
    "Under the proposal, households would pay less for water in the winter months.",
    "The startup plans to hire two hundred engineers over the next eighteen months.",
    "Critics argue that the plan does little to address the shortage of affordable housing.",
    "The observatory recorded the brightest meteor shower in more than a decade.",
    "Parents at the school said they had not been told about the change in advance.",
    "The project, funded by a regional grant, will restore three kilometres of wetland.",
    "Police asked drivers to avoid the city centre during the marathon on Sunday.",
    "The minister said the measures would be reviewed after six months.",
    "Shipping rates have fallen sharply since the summer as demand cooled.",
    "The author's new novel follows three generations of a family of fishermen.",
    "Scientists caution that the results come from a small sample and need to be confirmed.",
    "The hospital opened a new ward for children with chronic illnesses.",
    "Residents have complained for years about noise from the nearby highway.",
    "The orchestra will tour five countries next season, its first tour since the pandemic.",
    "The agency said the outage affected about twelve thousand customers for several hours.",
    "Negotiators will meet again in Geneva at the end of the month.",
]

EN_TITLE_SUBJECTS = [
    "City council", "Central bank", "Regional hospital", "Rail operator", "University researchers",
    "Farmers", "Museum", "Software maker", "Court", "Airline", "Startup", "Observatory", "Orchestra",
    "Ministry", "Water utility", "Shipping firms", "School board", "Police", "Trade negotiators",
]
EN_TITLE_VERBS = [
    "approves", "delays", "unveils", "warns about", "expands", "cuts", "reviews", "celebrates",
    "rejects", "plans", "reports on", "questions", "funds", "restores",
]
EN_TITLE_OBJECTS = [
    "new budget", "bridge repairs", "interest rates", "rural clinics", "river clean-up",
    "quarterly results", "open data rules", "wheat harvest", "restored collection", "rail link",
    "library hours", "security update", "vegetable prices", "festival plans", "vaccine drive",
    "housing plan", "wetland project", "marathon route", "winter tariffs", "hiring plans",
]
EN_CATEGORIES = ["World", "Politics", "Business", "Technology", "Science", "Health", "Culture",
                 "Sports", "Local", "Environment", "Education", "Transport"]
EN_LINK_TEXTS = ["the full report", "an earlier article", "the official statement", "our explainer",
                 "the data", "a related story", "the court filing", "the press release"]
EN_CAPTIONS = ["Workers on the site on Monday morning.", "The view from the old harbour.",
               "Visitors queue outside the entrance.", "A file photo from last year.",
               "Members of the committee after the vote."]
EN_SUBHEADS = ["What happens next", "Background", "Why it matters", "The numbers", "Reactions"]

ZH_SENTENCES = [
    "市议会周二深夜通过了新一年的预算，此前的辩论持续了将近六个小时。",
    "工程师表示，这座大桥将在明年春天恢复通车，比原计划晚两个月。",
    "分析人士预计，央行将在下周的会议上维持利率不变。",
    "报告发现，过去五年里农村诊所流失了四分之一的护士。",
    "暴雨过后，志愿者们利用周末清理了河岸上的杂物。",
    "公司表示，受亚洲市场销售强劲带动，本季度营收增长了百分之十一。",
    "大学的研究人员公开了数据集，方便其他团队核对他们的结论。",
    "当地农民担心，今年秋天的干旱会影响明年的小麦收成。",
    "这批藏品在修复之后将首次与观众见面。",
    "官员拒绝透露调查何时能够结束。",
    "外交部发言人说，会谈富有建设性，但双方尚未达成协议。",
    "新开通的铁路把两座城市之间的行程缩短到一个半小时以内。",
    "学生们在图书馆门前静坐，希望延长开放时间。",
    "这次软件更新修复了一个可能让攻击者读取私人消息的漏洞。",
    "统计局的数据显示，新鲜蔬菜价格已经连续第三个月上涨。",
    "音乐节吸引了四万多名游客，创下这座海滨小城的纪录。",
    "医生建议老年人在十一月底之前接种季节性疫苗。",
    "法院预计将在明年年初作出判决。",
    "由于机场上空大雾弥漫，多家航空公司取消了早间航班。",
    "主教练说，球员们从这场失利中学到了很多东西。",
    "根据这项提议，居民在冬季的水费将有所下降。",
    "这家初创企业计划在未来十八个月内招聘两百名工程师。",
    "批评人士认为，该计划对缓解保障性住房短缺作用有限。",
    "天文台记录到了十多年来最明亮的一次流星雨。",
    "家长们说，学校事先并没有通知他们这项调整。",
    "该项目由地方专项资金支持，将修复三公里长的湿地。",
    "警方提醒司机周日马拉松比赛期间尽量避开市中心。",
    "部长表示，这些措施将在六个月后重新评估。",
    "随着需求降温，航运价格自夏季以来大幅回落。",
    "这位作家的新小说讲述了一个渔民家庭三代人的故事。",
    "科学家提醒，这项结果来自较小的样本，还需要进一步验证。",
    "医院为患有慢性病的儿童开设了一个新病区。",
    "多年来，居民一直抱怨附近高速公路的噪音。",
    "乐团下个演出季将在五个国家巡演，这是疫情以来的首次巡演。",
    "该机构称，这次停电影响了约一万两千户用户，持续了数小时。",
    "谈判代表将于本月底在日内瓦再次会面。",
]
ZH_TITLE_SUBJECTS = ["市议会", "央行", "地区医院", "铁路公司", "大学研究团队", "农民", "博物馆",
                     "软件公司", "法院", "航空公司", "初创企业", "天文台", "乐团", "外交部", "自来水公司"]
ZH_TITLE_VERBS = ["通过", "推迟", "公布", "警告", "扩大", "削减", "审查", "庆祝", "否决", "规划", "资助"]
ZH_TITLE_OBJECTS = ["新预算", "大桥维修", "利率政策", "农村诊所", "河道清理", "季度业绩", "开放数据规则",
                    "小麦收成", "修复藏品", "铁路线路", "图书馆开放时间", "安全更新", "菜价", "音乐节",
                    "疫苗接种", "住房计划", "湿地项目", "马拉松路线", "冬季水价", "招聘计划"]
ZH_CATEGORIES = ["国际", "时政", "财经", "科技", "科学", "健康", "文化", "体育", "本地", "环境", "教育", "交通"]
ZH_LINK_TEXTS = ["完整报告", "此前的报道", "官方声明", "背景解读", "相关数据", "相关新闻", "法院文件", "新闻稿"]
ZH_CAPTIONS = ["周一上午，工人们在工地上。", "从老港口望去的景色。", "游客在入口处排队。",
               "资料图片，摄于去年。", "委员会成员在投票结束后合影。"]
ZH_SUBHEADS = ["下一步", "背景", "为什么重要", "数字", "各方反应"]

BASE_TIME = dt.datetime(2026, 11, 20, 6, 0, 0, tzinfo=dt.timezone.utc)


def rfc822(t):
    return t.strftime("%a, %d %b %Y %H:%M:%S +0000")


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def item_html(rng, zh, site, slug, target_bytes):
    """An item body of about target_bytes of UTF-8 HTML (2-5 KB)."""
    sentences = ZH_SENTENCES if zh else EN_SENTENCES
    joiner = "" if zh else " "
    links = ZH_LINK_TEXTS if zh else EN_LINK_TEXTS
    captions = ZH_CAPTIONS if zh else EN_CAPTIONS
    subheads = ZH_SUBHEADS if zh else EN_SUBHEADS

    def paragraph(n, with_link):
        chosen = [rng.choice(sentences) for _ in range(n)]
        if with_link:
            text = rng.choice(links)
            href = f"https://{site}/{rng.choice(['news', 'analysis', 'data'])}/{rng.randrange(10**6)}.html"
            chosen.insert(rng.randrange(len(chosen) + 1), f'<a href="{href}">{text}</a>')
        return "<p>" + joiner.join(chosen) + "</p>"

    parts = [
        f'<p><img src="https://img.{site}/2026/11/{slug}-lead.jpg" width="640" height="360" '
        f'alt="{html.escape(rng.choice(captions))}"></p>',
        paragraph(rng.randint(2, 4), False),
        f'<figure><img src="https://img.{site}/2026/11/{slug}-{rng.randrange(100)}.jpg" '
        f'width="800" height="450" alt=""><figcaption>{rng.choice(captions)}</figcaption></figure>',
    ]
    size = sum(len(p.encode()) for p in parts)
    while size < target_bytes:
        roll = rng.random()
        if roll < 0.12:
            part = f"<h3>{rng.choice(subheads)}</h3>"
        elif roll < 0.2:
            part = "<blockquote><p>" + rng.choice(sentences) + "</p></blockquote>"
        elif roll < 0.26:
            part = "<ul>" + "".join(f"<li>{rng.choice(sentences)}</li>" for _ in range(3)) + "</ul>"
        else:
            part = paragraph(rng.randint(2, 5), rng.random() < 0.5)
        n = len(part.encode())
        if size + n > 5000:
            if size >= 2000:
                break
            continue  # too long for the budget: draw another block
        parts.append(part)
        size += n
    return "\n".join(parts)


def title_of(rng, zh):
    if zh:
        return rng.choice(ZH_TITLE_SUBJECTS) + rng.choice(ZH_TITLE_VERBS) + rng.choice(ZH_TITLE_OBJECTS)
    return f"{rng.choice(EN_TITLE_SUBJECTS)} {rng.choice(EN_TITLE_VERBS)} {rng.choice(EN_TITLE_OBJECTS)}"


def generate_feed(n, items, seed):
    """Feed number n (1-based): (file name, bytes, kind, lang)."""
    rng = random.Random(f"{seed}/feed/{n}")
    atom = rng.random() < 0.3
    zh = rng.random() < 0.3
    site = f"news{n}.example.{'cn' if zh else 'org'}"
    feed_title = (f"新闻频道 {n}" if zh else f"News channel {n}")
    entries = []
    t = BASE_TIME - dt.timedelta(minutes=rng.randrange(600))
    for k in range(items):
        slug = f"story-{n}-{k}"
        title = title_of(rng, zh)
        link = f"https://{site}/2026/11/{slug}.html"
        guid = f"tag:{site},2026:{slug}"
        cats = rng.sample(ZH_CATEGORIES if zh else EN_CATEGORIES, rng.randint(1, 3))
        body = item_html(rng, zh, site, slug, rng.randint(2000, 5000))
        entries.append((title, link, guid, t, cats, body))
        t -= dt.timedelta(minutes=rng.randint(20, 400))
    updated = entries[0][3] if entries else BASE_TIME
    if atom:
        out = [
            '<?xml version="1.0" encoding="utf-8"?>',
            f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{"zh-CN" if zh else "en"}">',
            f"<title>{html.escape(feed_title)}</title>",
            f"<id>https://{site}/</id>",
            f'<link rel="alternate" href="https://{site}/"/>',
            f'<link rel="self" href="https://{site}/atom.xml"/>',
            f"<updated>{rfc3339(updated)}</updated>",
        ]
        for title, link, guid, t, cats, body in entries:
            out += [
                "<entry>",
                f"<title>{html.escape(title)}</title>",
                f"<id>{guid}</id>",
                f'<link rel="alternate" type="text/html" href="{link}"/>',
                f"<published>{rfc3339(t)}</published>",
                f"<updated>{rfc3339(t)}</updated>",
                f"<author><name>{'编辑部' if zh else 'Newsroom'}</name></author>",
            ]
            out += [f'<category term="{html.escape(c)}"/>' for c in cats]
            out += [f'<content type="html">{html.escape(body, quote=False)}</content>', "</entry>"]
        out.append("</feed>")
    else:
        out = [
            '<?xml version="1.0" encoding="utf-8"?>',
            '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:atom="http://www.w3.org/2005/Atom">',
            "<channel>",
            f"<title>{html.escape(feed_title)}</title>",
            f"<link>https://{site}/</link>",
            f"<description>{html.escape(feed_title)}</description>",
            f"<language>{'zh-cn' if zh else 'en'}</language>",
            f"<lastBuildDate>{rfc822(updated)}</lastBuildDate>",
            f'<atom:link href="https://{site}/rss.xml" rel="self" type="application/rss+xml"/>',
        ]
        for title, link, guid, t, cats, body in entries:
            out += [
                "<item>",
                f"<title>{html.escape(title)}</title>",
                f"<link>{link}</link>",
                f'<guid isPermaLink="false">{guid}</guid>',
                f"<pubDate>{rfc822(t)}</pubDate>",
                f"<dc:creator>{'编辑部' if zh else 'Newsroom'}</dc:creator>",
            ]
            out += [f"<category>{html.escape(c)}</category>" for c in cats]
            out += [f"<description><![CDATA[{body}]]></description>", "</item>"]
        out += ["</channel>", "</rss>"]
    data = ("\n".join(out) + "\n").encode()
    return f"feed-{n}.xml", data, "atom" if atom else "rss", "zh" if zh else "en"


def generate_feeds(count, items, seed):
    # Next to feeds/, not in it: the server and parse_floor take every file there.
    manifest_path = os.path.join(WORK, "feeds.manifest.json")
    wanted = {"version": GENERATOR_VERSION, "feeds": count, "items": items, "seed": seed}
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
        present = sum(1 for name in os.listdir(FEEDS_DIR) if name.startswith("feed-"))
        if {k: manifest.get(k) for k in wanted} == wanted and present == count:
            return manifest
    except (OSError, ValueError):
        pass
    print(f"generating {count} feeds x {items} items in {os.path.relpath(FEEDS_DIR, ROOT)} ...", flush=True)
    shutil.rmtree(FEEDS_DIR, ignore_errors=True)
    os.makedirs(FEEDS_DIR)
    kinds = {"rss": 0, "atom": 0}
    langs = {"en": 0, "zh": 0}
    total = 0
    digest = hashlib.sha256()
    for n in range(1, count + 1):
        name, data, kind, lang = generate_feed(n, items, seed)
        with open(os.path.join(FEEDS_DIR, name), "wb") as f:
            f.write(data)
        kinds[kind] += 1
        langs[lang] += 1
        total += len(data)
        digest.update(data)
    manifest = dict(wanted, bytes=total, kinds=kinds, langs=langs, sha256=digest.hexdigest())
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)
    return manifest


# --------------------------------------------------------------------------
# Processes


def run_measured(argv, stdout_path, stderr_path, env=None, cwd=None):
    """Runs argv to completion; returns (exit code, wall s, peak RSS MB, cpu s) of that child only."""
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped
    return proc.returncode, wall, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime


def clean_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEED_DIGEST_")}
    env.setdefault("LC_ALL", "C.UTF-8")
    return env


class Server:
    def __init__(self, threads, delay_ms):
        self.proc = subprocess.Popen(
            [SERVER, FEEDS_DIR, "--threads", str(threads), "--delay-ms", str(delay_ms)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline().strip()
        if not line.startswith("port="):
            self.proc.kill()
            sys.exit(f"bench_feed_server did not start (printed {line!r})")
        self.port = int(line.split("=", 1)[1])

    def stats(self, reset=True):
        url = f"http://127.0.0.1:{self.port}/_stats" + ("?reset=1" if reset else "")
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.communicate(timeout=10)  # it prints its counters on SIGTERM
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()


def feed_urls(port, count, hosts):
    # Feed n on host ((n-1) % hosts) + 1: consecutive feeds are on different hosts.
    return [f"http://127.0.0.{(n - 1) % hosts + 1}:{port}/feed-{n}.xml" for n in range(1, count + 1)]


def write_config(path, state_dir, outbox, urls, per_host, store=None):
    lines = [
        "# Generated by scripts/bench-poll.py: the polling benchmark's feed-digest config.",
        f'state_dir = "{state_dir}"',
        '# Every item counts as new on the first poll (as for rss2email), so the cold',
        '# poll stores articles and pending entries, not only baseline ids.',
        'first_poll_window = "all"',
        'log = "info"',
        "",
        "[delivery]",
        'transport = "file"',
        f'dir = "{outbox}"',
        "",
        "[fetch]",
        "concurrency = 16",
    ]
    if per_host:
        lines.append("per_host = 2")
    if store:
        # Top-level keys: before the first table.
        url, password_file = store
        lines.insert(2, f'store = "{url}"')
        if password_file:
            lines.insert(3, f'store_password_file = "{password_file}"')
    lines += ["", "[[subscribers]]", 'email = "bench@example.org"', ""]
    for url in urls:
        lines += ["[[feeds]]", f'url = "{url}"', ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def check_config(path):
    r = subprocess.run(
        [FEED_DIGEST, "check", "--config", path], capture_output=True, text=True, env=clean_env()
    )
    return r.returncode, (r.stdout + r.stderr)


POLL_LINE = re.compile(r"^(\d+) feeds polled, (\d+) failed$")


def summarize_poll(stdout_path, stderr_path):
    with open(stdout_path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    with open(stderr_path, encoding="utf-8", errors="replace") as f:
        log = f.read().splitlines()
    s = {"not_modified": 0, "fetched": 0, "new": 0, "items": 0, "skipped": 0, "errors": 0,
         "polled": None, "failed": None, "error_samples": [], "skip_samples": [],
         "log_warnings": sum(1 for line in log if " WARN " in line or "WARN" in line[:40]),
         "log_errors": sum(1 for line in log if " ERROR " in line or "ERROR" in line[:40]),
         "log_samples": [line for line in log if "WARN" in line or "ERROR" in line][:5]}
    fetched = re.compile(r": (\d+) new of (\d+) items")
    for line in lines:
        m = POLL_LINE.match(line)
        if m:
            s["polled"], s["failed"] = int(m.group(1)), int(m.group(2))
        elif line.endswith(": not modified"):
            s["not_modified"] += 1
        elif ": skipped: " in line:
            s["skipped"] += 1
            if len(s["skip_samples"]) < 5:
                s["skip_samples"].append(line)
        elif ": ERROR " in line:
            s["errors"] += 1
            if len(s["error_samples"]) < 5:
                s["error_samples"].append(line)
        else:
            m = fetched.search(line)
            if m:
                s["fetched"] += 1
                s["new"] += int(m.group(1))
                s["items"] += int(m.group(2))
    return s


class Postgres:
    """A database per run on the server `--postgres` names (a URL without
    the database, e.g. postgres://feed_digest@%2Ftmp%2Fpg/), made and dropped
    with PostgreSQL's own createdb/dropdb/psql."""

    def __init__(self, base, password_file, bindir):
        import urllib.parse
        netloc = urllib.parse.urlparse(base).netloc
        user, _, hostport = netloc.rpartition("@")
        self.base = base if base.endswith("/") else base + "/"
        self.password_file = password_file
        self.bindir = bindir or self.find_bindir()
        if hostport.lower().startswith("%2f"):
            self.args = ["-h", urllib.parse.unquote(hostport)]  # a socket directory
        else:
            host, _, port = hostport.partition(":")
            self.args = ["-h", host or "localhost"] + (["-p", port] if port else [])
        if user:
            self.args += ["-U", urllib.parse.unquote(user)]
        self.env = clean_env()
        if password_file:
            with open(password_file) as f:
                self.env["PGPASSWORD"] = f.read().strip()

    @staticmethod
    def find_bindir():
        versions = sorted(
            (int(v), os.path.join("/usr/lib/postgresql", v, "bin"))
            for v in os.listdir("/usr/lib/postgresql") if v.isdigit()
        ) if os.path.isdir("/usr/lib/postgresql") else []
        if not versions:
            sys.exit("--postgres: no PostgreSQL binaries found; give --pg-bindir")
        return versions[-1][1]

    def tool(self, name, *args):
        return subprocess.run([os.path.join(self.bindir, name), *self.args, *args],
                              capture_output=True, text=True, env=self.env, check=True).stdout

    def create(self, db):
        self.tool("createdb", db)
        return (self.base + db, self.password_file)

    def size(self, db):
        return int(self.tool("psql", "-d", db, "-tAc", "SELECT pg_database_size(current_database())").strip())

    def drop(self, db):
        self.tool("dropdb", db)


def bench_feed_digest(server, urls, runs, per_host, keep_state, postgres=None):
    config_path = os.path.join(WORK, "feed-digest.toml")
    logs = os.path.join(WORK, "logs")
    os.makedirs(logs, exist_ok=True)
    results = []
    for run in range(1, runs + 1):
        state_dir = tempfile.mkdtemp(prefix="feed-digest-bench-state-")
        outbox = os.path.join(state_dir, "outbox")
        db = f"feed_digest_bench_{os.getpid()}_{run}"
        store = postgres.create(db) if postgres else None
        write_config(config_path, state_dir, outbox, urls, per_host, store)
        row = {"run": run, "state_dir": state_dir, "store": "postgres" if postgres else "sled"}
        server.stats(reset=True)
        for phase in ("cold", "warm"):
            load = os.getloadavg()[0]
            out = os.path.join(logs, f"poll-{run}-{phase}.out")
            err = os.path.join(logs, f"poll-{run}-{phase}.err")
            code, wall, rss, cpu = run_measured(
                [FEED_DIGEST, "poll", "--config", config_path], out, err, env=clean_env()
            )
            stats = server.stats(reset=True)
            summary = summarize_poll(out, err)
            row[phase] = {
                "exit": code, "wall_s": wall, "peak_rss_mb": rss, "cpu_s": cpu, "poll": summary,
                "loadavg_1m_before": load,
                "server": {k: v for k, v in stats.items() if k not in ("by_host", "by_addr")},
            }
            print(
                f"  run {run} {phase}: {wall:7.3f} s wall, {cpu:6.2f} s cpu, {rss:6.1f} MB peak RSS, exit {code}; "
                f"{summary['fetched']} fetched ({summary['new']} new), {summary['not_modified']} not modified, "
                f"{summary['skipped']} skipped, {summary['errors']} errors; server: "
                f"{stats['total']['requests']} requests ({stats['total']['ok']} x 200, "
                f"{stats['total']['not_modified']} x 304), peak {stats['total']['peak_in_flight']} in flight "
                f"(max {stats['max_peak_in_flight_per_host']} per host), "
                f"peak {stats['peak_open_connections']} connections (max "
                f"{stats['max_peak_open_connections_per_addr']} per address), {stats['connections']} opened; "
                f"load before {load:.2f}",
                flush=True,
            )
            for sample in summary["error_samples"] + summary["skip_samples"] + summary["log_samples"]:
                print(f"      {sample}", flush=True)
        try:
            row["store_bytes"] = sum(
                os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(state_dir) for f in fs
            )
        except OSError:
            pass
        if postgres:
            row["store_bytes"] = postgres.size(db)
            if not keep_state:
                postgres.drop(db)
        if not keep_state:
            shutil.rmtree(state_dir, ignore_errors=True)
        results.append(row)
    return results


def parse_floor():
    r = subprocess.run([PARSE_FLOOR, FEEDS_DIR, "--runs", "3", "--feed-digest", "--json"],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------
# rss2email


def ensure_rss2email():
    r2e = os.path.join(VENV, "bin", "r2e")
    if not os.path.exists(r2e):
        print("installing rss2email into target/bench-poll/venv ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([os.path.join(VENV, "bin", "pip"), "install", "--quiet", "rss2email"], check=True)
    version = subprocess.run([r2e, "--version"], capture_output=True, text=True).stdout.strip()
    return r2e, version


def bench_rss2email(urls, limit):
    r2e, version = ensure_rss2email()
    chosen = urls[:limit]
    home = os.path.join(WORK, "r2e")
    shutil.rmtree(home, ignore_errors=True)
    os.makedirs(home)
    config = os.path.join(home, "rss2email.cfg")
    data = os.path.join(home, "rss2email.json")
    env = clean_env()
    env["HOME"] = home  # nothing from the user's own rss2email setup
    subprocess.run([r2e, "-c", config, "-d", data, "new", "you@example.org"], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # `r2e add` rewrites the whole config and data file per feed; feeds listed in
    # the config but not yet in the data file are picked up on load, so append them.
    with open(config, "a") as f:
        for i, url in enumerate(chosen, 1):
            f.write(f"\n[feed.f{i:04d}]\nurl = {url}\n")
    results = {"version": version, "feeds": len(chosen)}
    for phase in ("cold", "warm"):
        out = os.path.join(home, f"run-{phase}.out")
        err = os.path.join(home, f"run-{phase}.err")
        code, wall, rss, cpu = run_measured(
            [r2e, "-c", config, "-d", data, "run", "--no-send"], out, err, env=env
        )
        with open(data) as f:
            states = json.load(f)["feeds"]
        seen = sum(len(s.get("seen", {})) for s in states)
        with_etag = sum(1 for s in states if s.get("etag"))
        with open(err, encoding="utf-8", errors="replace") as f:
            log = f.read().splitlines()
        problems = [line for line in log if "WARNING" in line or "ERROR" in line or "CRITICAL" in line]
        results[phase] = {"exit": code, "wall_s": wall, "peak_rss_mb": rss, "cpu_s": cpu,
                          "seen_entries": seen, "feeds_with_etag": with_etag,
                          "log_problems": len(problems), "log_samples": problems[:5]}
        print(f"  rss2email {phase}: {wall:8.2f} s wall, {cpu:7.2f} s cpu, {rss:6.1f} MB peak RSS, exit {code}; "
              f"{len(states)} feeds, {seen} entries seen, {len(problems)} warnings/errors", flush=True)
        for sample in problems[:5]:
            print(f"      {sample}", flush=True)
    return results


# --------------------------------------------------------------------------
# Report


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": model,
        "kernel": platform.release(),
        "memory": mem,
        "python": platform.python_version(),
    }


def git_commit(label=None):
    def git(*args):
        r = subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ""

    commit = label or git("rev-parse", "--short=12", "HEAD") or "? (not a git checkout)"
    dirty = not label and git("status", "--porcelain", "--untracked-files=no", "--", "src", "Cargo.toml", "Cargo.lock")
    built = dt.datetime.fromtimestamp(os.path.getmtime(FEED_DIGEST)).astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return commit + (" + uncommitted changes in src/" if dirty else "") + f" (binary built {built})"


def median(values):
    return statistics.median(values) if values else float("nan")


def report(args, manifest, fd_runs, floor, r2e, per_host, server_threads, commit):
    n = manifest["feeds"]
    cold = median([r["cold"]["wall_s"] for r in fd_runs])
    warm = median([r["warm"]["wall_s"] for r in fd_runs])
    cold_rss = median([r["cold"]["peak_rss_mb"] for r in fd_runs])
    warm_rss = median([r["warm"]["peak_rss_mb"] for r in fd_runs])
    max_rss = max(max(r["cold"]["peak_rss_mb"], r["warm"]["peak_rss_mb"]) for r in fd_runs)
    cold_cpu = median([r["cold"]["cpu_s"] for r in fd_runs])
    floor_s = floor["feed_rs"]["ms"] / 1000
    fd_parse_s = floor["feed_digest_parse"]["ms"] / 1000 if "feed_digest_parse" in floor else None
    r2e_s = r2e_extrapolated = None
    if r2e:
        r2e_s = r2e["cold"]["wall_s"]
        r2e_extrapolated = r2e_s * n / r2e["feeds"]
    out = []
    w = out.append
    w(f"## Polling benchmark: {n} feeds x {manifest['items']} items "
      f"({manifest['bytes'] / 1e6:.1f} MB; {manifest['kinds']['rss']} RSS, {manifest['kinds']['atom']} Atom; "
      f"{manifest['langs']['zh']} in Chinese), {len(fd_runs)} runs, medians")
    w("")
    w(f"- date: {dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}")
    m = machine()
    w(f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, Linux {m['kernel']}")
    w(f"- feed-digest: {commit}, release build; `[fetch] concurrency = 16`"
      + (", `per_host = 2`" if per_host else " (no `per_host` key: not accepted by this build)")
      + f"; feeds spread over {min(args.hosts, n)} hosts (127.0.0.1-{min(args.hosts, n)})")
    w(f"- server: bench_feed_server, {server_threads} thread(s), on the same machine"
      + (f", {args.latency_ms} ms added latency per response" if args.latency_ms else ", no added latency"))
    if r2e:
        w(f"- rss2email {r2e['version'].split()[-1] if r2e['version'] else '?'} "
          f"(Python {m['python']}), `r2e run --no-send`, sequential (its only mode), on "
          + (f"all {n} feeds" if r2e["feeds"] == n else
             f"the first {r2e['feeds']} feeds, **extrapolated linearly** to {n}"))
    w("")
    w("| cold poll s | warm poll s | warm/cold % | peak RSS MB | parse floor s | cold/floor | rss2email s | speedup |")
    w("|---:|---:|---:|---:|---:|---:|---:|---:|")
    r2e_cell = "-" if r2e_extrapolated is None else (
        f"{r2e_extrapolated:.1f}" + ("" if r2e["feeds"] == n else " (extrap.)"))
    speedup = None if r2e_extrapolated is None else r2e_extrapolated / cold
    w(f"| {cold:.3f} | {warm:.3f} | {100 * warm / cold:.1f} | {max_rss:.1f} | {floor_s:.3f} | "
      f"{cold / floor_s:.2f} | {r2e_cell} | {'-' if speedup is None else f'{speedup:.0f}x'} |")
    w("")
    w("Targets:")
    checks = [
        ("cold poll >= 50x faster than rss2email",
         None if speedup is None else speedup >= TARGETS["speedup_vs_rss2email"],
         "-" if speedup is None else f"{speedup:.0f}x"),
        ("cold poll within 3x of the parse floor", cold / floor_s <= TARGETS["cold_over_floor"],
         f"{cold / floor_s:.2f}x"),
        ("warm poll <= 5 % of cold", 100 * warm / cold <= TARGETS["warm_over_cold_pct"],
         f"{100 * warm / cold:.1f} %"),
        ("peak RSS <= 64 MB", max_rss <= TARGETS["peak_rss_mb"], f"{max_rss:.1f} MB"),
    ]
    for name, ok, value in checks:
        w(f"- {'n/a ' if ok is None else ('PASS' if ok else 'FAIL')} {name}: {value}")
    w("")
    w("Details:")
    w(f"- cold poll: median {cold:.3f} s wall, {cold_cpu:.2f} s CPU, peak RSS {cold_rss:.1f} MB; runs: "
      + ", ".join(f"{r['cold']['wall_s']:.3f}" for r in fd_runs))
    w(f"- warm poll: median {warm:.3f} s wall, peak RSS {warm_rss:.1f} MB; runs: "
      + ", ".join(f"{r['warm']['wall_s']:.3f}" for r in fd_runs))
    last = fd_runs[-1]
    for phase in ("cold", "warm"):
        p, s = last[phase]["poll"], last[phase]["server"]
        w(f"- {phase} (run {last['run']}): {p['fetched']} fetched / {p['new']} new articles / "
          f"{p['not_modified']} not modified / {p['skipped']} skipped / {p['errors']} errors, exit "
          f"{last[phase]['exit']}; server saw {s['total']['requests']} requests "
          f"({s['total']['ok']} x 200, {s['total']['not_modified']} x 304), "
          f"peak {s['total']['peak_in_flight']} in flight, at most {s['max_peak_in_flight_per_host']} per host, "
          f"{s['connections']} connections opened")
    if "store_bytes" in last:
        where = "in the database (pg_database_size)" if last.get("store") == "postgres" else "on disk"
        w(f"- store ({last.get('store', 'sled')}) after cold + warm: {last['store_bytes'] / 1e6:.1f} MB {where}")
    w(f"- parse floor: feed-rs {floor['feed_rs']['ms']:.0f} ms ({floor['feed_rs']['mb_per_s']:.0f} MB/s, "
      f"{floor['feed_rs']['items']} items, {floor['feed_rs']['errors']} errors), best of {floor['runs']}, one thread")
    if fd_parse_s is not None:
        w(f"- feed-digest's own parse stage on the same bytes (feed-rs + HTML to text, thumbnails, "
          f"boilerplate), one thread: {fd_parse_s * 1000:.0f} ms ({fd_parse_s / floor_s:.2f}x the floor)")
    if r2e:
        c = r2e["cold"]
        w(f"- rss2email cold: {c['wall_s']:.1f} s for {r2e['feeds']} feeds "
          f"({1000 * c['wall_s'] / r2e['feeds']:.0f} ms per feed), {c['cpu_s']:.1f} s CPU, "
          f"peak RSS {c['peak_rss_mb']:.1f} MB, {c['seen_entries']} entries processed, "
          f"{c['log_problems']} warnings/errors")
        if "warm" in r2e:
            wr = r2e["warm"]
            w(f"- rss2email warm (304s): {wr['wall_s']:.1f} s for {r2e['feeds']} feeds, "
              f"peak RSS {wr['peak_rss_mb']:.1f} MB")
    return "\n".join(out)


def main():
    global FEED_DIGEST, SERVER, PARSE_FLOOR
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100 feeds (a smoke test)")
    ap.add_argument("--feeds", type=int, help="number of feeds (default 1000, 100 with --quick)")
    ap.add_argument("--items", type=int, default=20, help="items per feed (default 20)")
    ap.add_argument("--hosts", type=int, default=100, help="spread feeds over 127.0.0.1..N (default 100, max 254)")
    ap.add_argument("--runs", type=int, default=3, help="cold+warm runs of feed-digest (default 3)")
    ap.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    ap.add_argument("--r2e-feeds", type=int, help="run rss2email on the first N feeds and extrapolate")
    ap.add_argument("--no-r2e", action="store_true", help="skip rss2email")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already in target/release")
    ap.add_argument("--server-threads", type=int, default=1, help="bench_feed_server worker threads (default 1)")
    ap.add_argument("--latency-ms", type=int, default=0,
                    help="server holds each feed response this long (default 0: loopback speed)")
    ap.add_argument("--commit", help="describe the build in the report (default: git HEAD of this checkout)")
    ap.add_argument("--keep-state", action="store_true", help="keep each run's state dir")
    ap.add_argument("--postgres", metavar="URL",
                    help="store in PostgreSQL: a database per run on this server, e.g. postgres://feed_digest@%%2Ftmp%%2Fpg/")
    ap.add_argument("--pg-password-file", help="the database password, for --postgres")
    ap.add_argument("--pg-bindir", help="where createdb/dropdb/psql are (default: the newest /usr/lib/postgresql/N/bin)")
    args = ap.parse_args()
    count = args.feeds or (100 if args.quick else 1000)
    if not 1 <= args.hosts <= 254:
        sys.exit("--hosts must be between 1 and 254")
    os.makedirs(WORK, exist_ok=True)

    if not args.no_build:
        print("building: cargo build --release --bin feed-digest --examples", flush=True)
        built = subprocess.run(
            ["nice", "-n", "10", "cargo", "build", "--release", "--bin", "feed-digest", "--examples"], cwd=ROOT
        )
        if built.returncode != 0:
            sys.exit("the build failed; fix it, or rerun with --no-build to use the binaries in target/release")
    for binary in (FEED_DIGEST, SERVER, PARSE_FLOOR):
        if not os.path.exists(binary):
            sys.exit(f"{binary} is missing: build without --no-build")
    # Run copies: a build in the same target dir during the run cannot swap them.
    bindir = os.path.join(WORK, "bin")
    os.makedirs(bindir, exist_ok=True)
    copies = []
    for binary in (FEED_DIGEST, SERVER, PARSE_FLOOR):
        copy = os.path.join(bindir, os.path.basename(binary))
        shutil.copy2(binary, copy)
        copies.append(copy)
    FEED_DIGEST, SERVER, PARSE_FLOOR = copies
    # What was built, taken now: the tree may change during the run.
    commit = git_commit(args.commit)

    manifest = generate_feeds(count, args.items, args.seed)
    print(f"feeds: {manifest['feeds']} x {manifest['items']} items, {manifest['bytes'] / 1e6:.1f} MB, "
          f"{manifest['kinds']}, {manifest['langs']}", flush=True)

    server = Server(args.server_threads, args.latency_ms)
    try:
        urls = feed_urls(server.port, count, args.hosts)
        # Does this build know `[fetch] per_host`? Try it.
        probe = os.path.join(WORK, "probe.toml")
        probe_state = tempfile.mkdtemp(prefix="feed-digest-bench-probe-")
        write_config(probe, probe_state, os.path.join(probe_state, "outbox"), urls[:1], per_host=True)
        code, _ = check_config(probe)
        per_host = code == 0
        write_config(probe, probe_state, os.path.join(probe_state, "outbox"), urls[:1], per_host=False)
        code, text = check_config(probe)
        shutil.rmtree(probe_state, ignore_errors=True)
        os.remove(probe)
        if code != 0:
            sys.exit(f"feed-digest check refused the generated config (exit {code}):\n{text}")
        print(f"feed-digest config: concurrency = 16, per_host = "
              f"{'2' if per_host else '(not accepted by this build, left out)'}", flush=True)

        print(f"feed-digest: {args.runs} x (cold poll, warm poll), fresh state dir each", flush=True)
        postgres = Postgres(args.postgres, args.pg_password_file, args.pg_bindir) if args.postgres else None
        fd_runs = bench_feed_digest(server, urls, args.runs, per_host, args.keep_state, postgres)

        print("parse floor: parse_floor (feed-rs, one thread, best of 3)", flush=True)
        floor = parse_floor()
        print(f"  feed-rs: {floor['feed_rs']['ms']:.0f} ms, {floor['feed_rs']['mb_per_s']:.0f} MB/s; "
              f"feed-digest parse stage: {floor.get('feed_digest_parse', {}).get('ms', float('nan')):.0f} ms",
              flush=True)

        r2e = None
        if not args.no_r2e:
            limit = min(args.r2e_feeds or count, count)
            print(f"rss2email: {limit} feeds" + (" (extrapolated)" if limit < count else ""), flush=True)
            r2e = bench_rss2email(urls, limit)
    finally:
        server.stop()

    text = report(args, manifest, fd_runs, floor, r2e, per_host, args.server_threads, commit)
    print()
    print(text)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    with open(os.path.join(WORK, f"results-{stamp}.json"), "w") as f:
        json.dump({"args": vars(args), "manifest": manifest, "machine": machine(), "commit": commit,
                   "per_host": per_host, "feed_digest": fd_runs, "parse_floor": floor, "rss2email": r2e},
                  f, indent=1)
    with open(os.path.join(WORK, f"results-{stamp}.md"), "w") as f:
        f.write(text + "\n")
    print(f"\n(results in target/bench-poll/results-{stamp}.json and .md)")


if __name__ == "__main__":
    main()
