#!/usr/bin/env bash
# Fetches the third-party corpora the tests read, once, into target/test-data/
# (ignored by git): feedparser's test suite from its PyPI source distribution
# and caniemail's support data from its npm package, each pinned by version
# and checked by SHA-256. A later run finds the stamps and needs no network.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=target/test-data
mkdir -p "$DATA/downloads"

fail() {
    echo "test-data: $*" >&2
    exit 1
}

sha256_of() {
    sha256sum "$1" | cut -d' ' -f1
}

# fetch NAME VERSION SHA256 FILE COMMAND…: the archive in downloads/, fetched
# by COMMAND (run with the download folder as its last argument) unless a
# copy with the right checksum is already there.
fetch() {
    local name=$1 version=$2 sha=$3 file=$4
    shift 4
    local archive="$DATA/downloads/$file" log="$DATA/downloads/$name.log"
    if [ -f "$archive" ] && [ "$(sha256_of "$archive")" = "$sha" ]; then
        return
    fi
    rm -f "$archive"
    need "$1"
    echo "test-data: fetching $name $version (once; cached in $DATA/)" >&2
    local tmp
    tmp=$(mktemp -d "$DATA/downloads/.tmp.XXXXXX")
    if ! "$@" "$tmp" >"$log" 2>&1 || [ ! -f "$tmp/$file" ]; then
        rm -rf "$tmp"
        fail "downloading $name $version failed (output in $log): check the network or proxy, then run scripts/test-data.sh again"
    fi
    local got
    got=$(sha256_of "$tmp/$file")
    if [ "$got" != "$sha" ]; then
        rm -rf "$tmp"
        fail "$file has SHA-256 $got, expected $sha: not the pinned $name $version; nothing was kept, run scripts/test-data.sh again"
    fi
    mv "$tmp/$file" "$archive"
    rm -rf "$tmp"
}

# unpack NAME SHA256 FILE MEMBER DEST: MEMBER of the archive as $DATA/DEST,
# replaced whole, with a stamp naming the archive's checksum.
unpack() {
    local name=$1 sha=$2 file=$3 member=$4 dest=$5
    local tmp
    tmp=$(mktemp -d "$DATA/.tmp.XXXXXX")
    tar --no-same-owner -xzf "$DATA/downloads/$file" -C "$tmp" "$member" ||
        { rm -rf "$tmp"; fail "unpacking $member from $DATA/downloads/$file failed; delete $DATA and run scripts/test-data.sh again"; }
    rm -rf "${DATA:?}/$name"
    mkdir -p "$DATA/$name"
    mv "$tmp/$member" "$DATA/$name/$dest"
    rm -rf "$tmp"
    echo "$sha" >"$DATA/$name/.stamp"
}

# corpus NAME VERSION SHA256 FILE MEMBER DEST COMMAND…
corpus() {
    local name=$1 version=$2 sha=$3 file=$4 member=$5 dest=$6
    shift 6
    if [ -f "$DATA/$name/.stamp" ] && [ "$(cat "$DATA/$name/.stamp")" = "$sha" ] && [ -e "$DATA/$name/$dest" ]; then
        return
    fi
    fetch "$name" "$version" "$sha" "$file" "$@"
    unpack "$name" "$sha" "$file" "$member" "$dest"
}

# The tools are checked before the download, whose output goes to a log.
need() {
    case $1 in
    pip_download)
        { command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; } ||
            fail "fetching feedparser needs pip (python3 -m pip): install python3-pip, then run scripts/test-data.sh again"
        ;;
    npm_pack)
        command -v npm >/dev/null ||
            fail "fetching caniemail needs npm: install npm, then run scripts/test-data.sh again"
        ;;
    esac
}

pip_download() {
    python3 -m pip download --disable-pip-version-check --no-deps --no-binary :all: "$@"
}

npm_pack() {
    local spec=$1 dir=$2
    npm pack --silent "$spec" --pack-destination "$dir"
}

# feedparser's test suite (2,249 files: wellformed/, illformed/, encoding/, …).
corpus feedparser 6.0.12 64f76ce90ae3e8ef5d1ede0f8d3b50ce26bcce71dd8ae5e82b1cd2d4a5f94228 \
    feedparser-6.0.12.tar.gz feedparser-6.0.12/tests tests \
    pip_download feedparser==6.0.12 -d
# caniemail's support data (307 features in the email clients it tests).
corpus caniemail 2.0.2 499791954c5ea4e067edc85a942b02fd1688208d4b899c483fb6d1a28eddd039 \
    caniemail-2.0.2.tgz package/data/caniemail.json caniemail.json \
    npm_pack caniemail@2.0.2
