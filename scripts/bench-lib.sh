# Sourced by scripts/bench-daemon-memory.sh and scripts/bench-poll-ab.sh: the
# polling benchmark's feed server, and a feed-digest config for its 1,000
# feeds (the feeds scripts/bench-poll.py generated).

# start_feed_server SERVER FEEDS OUT: starts the server in the background
# (its pid in $server) and waits until it says its port (in $port).
start_feed_server() {
    "$1" "$2" --threads 1 > "$3" 2>/dev/null &
    server=$!
    until grep -q '^port=' "$3"; do
        kill -0 "$server"
        sleep 0.1
    done
    port=$(sed -n 's/^port=//p' "$3")
}

# bench_config DIR LOG PORT [EXTRA]: prints the config: state and outbox in
# DIR, log level LOG, the server's PORT, EXTRA (TOML) before the subscriber.
bench_config() {
    printf 'state_dir = "%s"\nfirst_poll_window = "all"\nlog = "%s"\n' "$1/state" "$2"
    printf '\n[delivery]\ntransport = "file"\ndir = "%s"\n' "$1/outbox"
    printf '\n[fetch]\nconcurrency = 16\nper_host = 2\n'
    printf '%s' "${4:-}"
    printf '\n[[subscribers]]\nemail = "bench@example.org"\n'
    for n in $(seq 1 1000); do
        printf '\n[[feeds]]\nurl = "http://127.0.0.%d:%d/feed-%d.xml"\n' $(((n - 1) % 100 + 1)) "$3" "$n"
    done
}
