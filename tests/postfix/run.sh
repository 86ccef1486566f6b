#!/usr/bin/env bash
# End to end through a real MTA: feed-digest polls the bundled sample feeds,
# sends alice's digest to the local Postfix over STARTTLS (verified against the
# private test CA), and we check what Postfix delivered to her Maildir.
# Needs tests/postfix/setup.sh to have run (as root) and target/debug/feed-digest
# to be built; run from anywhere, usually as root (to read alice's Maildir).
set -Eeuo pipefail
cd "$(dirname "$0")/../.."

BIN=$PWD/target/debug/feed-digest
CA=/etc/feed-digest-test/ca.pem
RCPT=alice@example.org

work=$(mktemp -d)
fail() {
    echo "postfix end-to-end: FAIL: $*" >&2
    echo "  (work dir kept: $work)" >&2
    echo "postfix end-to-end: 0 passed, 1 failed"
    exit 1
}
trap 'fail "unexpected error at line $LINENO"' ERR

[ -x "$BIN" ] || fail "$BIN not built (run cargo build first)"
[ -r "$CA" ] || fail "$CA missing: run tests/postfix/setup.sh as root"
command -v python3 >/dev/null || fail "python3 is needed to decode the message"
home=$(getent passwd alice | cut -d: -f6) || fail "no user alice: run tests/postfix/setup.sh"
maildir=$home/Maildir

mkdir "$work/feeds"
cp config/demo/world-zh.xml config/demo/tech-en.atom config/demo/notes.json "$work/feeds/"
cfg=$work/config.toml
cat > "$cfg" <<TOML
state_dir = "state"
poll = "30m"
first_poll_window = "all"

[smtp]
host = "localhost"
port = 25
security = "starttls"
ca_file = "$CA"
from = "Morning Digest <digest@example.org>"

[digest]
title = "Morning Digest"

[[feeds]]
url = "feeds/world-zh.xml"
name = "示例新闻 国际"
topics = ["国际"]

[[feeds]]
url = "feeds/tech-en.atom"

[[feeds]]
url = "feeds/notes.json"

[[topics]]
name = "朝鲜半岛"
keywords = ["朝鲜", "金正恩", "North Korea", "Pyongyang"]

[[subscribers]]
email = "$RCPT"
name = "Alice 王"
schedule = "07:00"
timezone = "Asia/Shanghai"
topics = ["朝鲜半岛"]
TOML

# Earlier runs leave mail in the Maildir, possibly with the same Message-ID
# (it is derived from recipient and articles); only files new since now count.
# (No Maildir yet before the first delivery: an empty list, not an error.)
maildir_files() { { find "$maildir/new" "$maildir/cur" -type f 2>/dev/null || true; } | sort; }
maildir_files > "$work/before"
# Prints the Maildir files, new since the snapshot, that carry Message-ID $1.
new_with_id() {
    maildir_files | comm -13 "$work/before" - | while read -r f; do
        if grep -qiF "Message-ID: $1" "$f"; then echo "$f"; fi
    done
}

out=$("$BIN" --config "$cfg" poll) || fail "poll exited $?: $out"
sed 's/^/  poll: /' <<<"$out"
out=$("$BIN" --config "$cfg" send) || fail "send exited $?: $out"
sed 's/^/  send: /' <<<"$out"
id=$(sed -n "s/^$RCPT: sent [0-9]* articles (\(<[^>]*>\))\$/\1/p" <<<"$out")
[ -n "$id" ] || fail "send did not report a digest sent to $RCPT"

# Postfix delivers asynchronously after accepting the message.
file=
for _ in $(seq 100); do
    file=$(new_with_id "$id")
    file=${file%%$'\n'*}  # not `| head -1`: SIGPIPE would trip pipefail
    [ -n "$file" ] && break
    sleep 0.2
done
if [ -z "$file" ]; then
    [ -r "$maildir" ] || echo "  note: cannot read $maildir (run as root)" >&2
    postqueue -p >&2 || true
    tail -n 20 /var/log/postfix.log >&2 2>/dev/null || true
    fail "no message $id in $maildir/new within 20 s"
fi
echo "  delivered: $file"

python3 - "$file" <<'PY' || fail "delivered message is not as expected (see above)"
import email, email.policy, sys
raw = open(sys.argv[1], "rb").read()
msg = email.message_from_bytes(raw, policy=email.policy.default)
problems = []
if msg.get("Auto-Submitted") != "auto-generated":
    problems.append(f"Auto-Submitted is {msg.get('Auto-Submitted')!r}")
# Postfix prepends its Received: header, so the first one is the SMTP hop
# from feed-digest; with smtpd_tls_received_header it names the TLS version.
received = " ".join(str(msg.get_all("Received", [""])[0]).split())
if "(using TLS" not in received or "ESMTPS" not in received:
    problems.append(f"Received header shows no TLS: {received!r}")
subject = str(msg["Subject"])  # the default policy decodes RFC 2047
if "Morning Digest" not in subject:
    problems.append(f"Subject is {subject!r}")
plain = msg.get_body(("plain",))
text = plain.get_content() if plain else ""
if "朝鲜" not in text:
    problems.append("text/plain part does not contain 朝鲜")
for p in problems:
    print("  problem:", p, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"  subject: {subject}")
print(f"  text/plain: {plain['Content-Transfer-Encoding']}, {len(text)} chars")
print(f"  received: {received}")
PY

# A second send must find nothing left and must not deliver a duplicate.
out=$("$BIN" --config "$cfg" send) || fail "second send exited $?: $out"
sed 's/^/  send again: /' <<<"$out"
grep -qxF "$RCPT: nothing pending" <<<"$out" || fail "second send did not report nothing pending"
count=$(new_with_id "$id" | wc -l)
[ "$count" -eq 1 ] || fail "$count messages with $id in the Maildir, expected 1"

trap - ERR
rm -rf "$work"
echo "postfix end-to-end: 1 passed, 0 failed"
