#!/usr/bin/env bash
# Installs the C libraries and tools Calf builds against, when missing:
# libuv, LMDB and mimalloc (Debian's -dev packages), pkg-config and make, and tmux
# (the tests drive the interactive shell and `top` through a pseudo-terminal).
set -euo pipefail

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
# mimalloc ships no pkg-config file.
[ -e /usr/include/mimalloc.h ] || missing+=(libmimalloc-dev)
if command -v pkg-config >/dev/null 2>&1; then
    pkg-config --exists libuv || missing+=(libuv1-dev)
    pkg-config --exists lmdb || missing+=(liblmdb-dev)
else
    missing+=(libuv1-dev liblmdb-dev)
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
        exit 1
    fi
fi
echo "install-deps: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y "${missing[@]}"
