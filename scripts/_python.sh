# Shared by scripts/matrix and scripts/test: find Python >= 3.11 with venv, installing it with
# apt-get on a fresh Debian machine that lacks it, and make pyenv's 3.12/3.13 visible to tox.
set -euo pipefail

# tox's interpreter discovery does not hand PYENV_VERSION to pyenv's shims, so the versions'
# own bin folders go on PATH (3.11 last, so it is first).
if command -v pyenv >/dev/null 2>&1; then
    for v in 3.13.0 3.12.1 3.11.7; do
        bin="$(pyenv root)/versions/$v/bin"
        [ -x "$bin/python${v%.*}" ] && PATH="$bin:$PATH"
    done
    export PATH
fi

python_ok() {
    "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

PYTHON=""
for candidate in python3.11 python3 python3.12 python3.13; do
    if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
        PYTHON=$(command -v "$candidate")
        break
    fi
done
if [ -z "$PYTHON" ]; then
    echo "scripts: no Python >= 3.11 with venv; installing Debian's python3 and python3-venv" >&2
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv
    PYTHON=$(command -v python3)
    python_ok "$PYTHON" || { echo "scripts: $PYTHON is older than 3.11" >&2; exit 1; }
fi

VENV="${WSHARNESS_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi

# pip's own chatter goes to a log, shown only when an install fails.
pip_install() {
    local log="$VENV/pip-install.log"
    if ! "$VENV/bin/python" -m pip install --quiet "$@" >"$log" 2>&1; then
        cat "$log" >&2
        echo "scripts: pip install $* failed (log: $log)" >&2
        return 1
    fi
}
pip_install --upgrade pip
