#!/usr/bin/env bash
# shellcheck shell=bash
#
# A PostgreSQL server for the tests. natsapi-testkit's TestDatabase creates one database per test
# on the server NATSAPI_TEST_POSTGRES_URL names and drops it afterwards; this file makes sure the
# variable names a server that answers. scripts/test sources it (after lib.sh) and calls
# ensure_test_postgres before the Rust tests. Run directly:
#
#     scripts/postgres.sh                   # finds or starts a server, prints its URL, stops it
#     scripts/postgres.sh COMMAND [ARG...]  # runs COMMAND with NATSAPI_TEST_POSTGRES_URL set
#
# ensure_test_postgres takes the first of:
#   1. NATSAPI_TEST_POSTGRES_URL, when set: it must answer `psql ... SELECT 1` as a role allowed
#      to CREATE DATABASE, else the step fails saying so (the variable is not replaced).
#   2. postgres://postgres@127.0.0.1:5432/postgres, when it answers without a password. It is
#      only used: never started, stopped or changed.
#   3. A throwaway cluster: Debian's postgresql package (initdb, pg_ctl and postgres from the
#      newest /usr/lib/postgresql/*/bin; the package is apt-get installed when missing, as root or
#      through passwordless sudo, else the step fails with the command to run). initdb writes a
#      cluster into a new temporary directory (trust auth, superuser postgres); postgres listens
#      on 127.0.0.1 on a free port, with its socket in that directory, fsync off (nothing in it
#      outlives the run). It is stopped and the directory removed when the shell exits, also
#      when tests failed or on Ctrl-C / SIGTERM (EXIT, INT and TERM traps). initdb and postgres
#      refuse to run as root: under root they run as `nobody`, which then owns the directory.
# It exports NATSAPI_TEST_POSTGRES_URL, and needs psql (installs postgresql-client like above
# when none is found).
#
# NATSAPI_TEST_POSTGRES_THROWAWAY=1 skips step 2, so a server on 5432 is ignored: it exists to
# test step 3 on a machine that has one (NATSAPI_TEST_POSTGRES_URL, when set, still wins).

PG_DEFAULT_URL="postgres://postgres@127.0.0.1:5432/postgres"
# The throwaway cluster's directory, and the command prefix that runs its programs (setpriv to
# nobody under root, else empty). Set by start_throwaway_postgres.
PG_THROWAWAY_DIR=""
PG_THROWAWAY_BIN=""
PG_RUN_AS=()

# Prints the newest /usr/lib/postgresql/<version>/bin holding PROGRAM, else the directory of
# PROGRAM on PATH; fails when neither exists.
pg_bin_dir() {
    local program="$1" dir
    dir="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/'"$program" \
        -printf '%h\n' 2>/dev/null | sort -V | tail -n 1)"
    if [[ -z "$dir" ]] && command -v "$program" >/dev/null 2>&1; then
        dir="$(dirname "$(command -v "$program")")"
    fi
    [[ -n "$dir" ]] && printf '%s\n' "$dir"
}

# pg_apt_install PACKAGE: installs a Debian package as root (lib.sh's apt_install), or through
# passwordless sudo; fails when neither is possible.
pg_apt_install() {
    if apt_can_install; then
        apt_install "$1"
    elif [[ "${NATSAPI_NO_APT:-0}" == 0 && "$(id -u)" != 0 ]] &&
        command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1 &&
        sudo -n true 2>/dev/null; then
        # shellcheck disable=SC2016 # expanded by the inner shell
        sudo -n bash -c '. "$1" && apt_install "$2"' _ "$REPO_ROOT/scripts/lib.sh" "$1"
    else
        return 1
    fi
}

# pg_program PROGRAM PACKAGE: prints the path of a PostgreSQL program, installing PACKAGE when it
# is missing; fails with the command to run when it cannot.
pg_program() {
    local program="$1" package="$2" dir
    if ! dir="$(pg_bin_dir "$program")"; then
        local tried="could not install $package here"
        if pg_apt_install "$package" >&2; then
            tried="installing $package did not provide it"
        fi
        hash -r
        if ! dir="$(pg_bin_dir "$program")"; then
            printf 'error: %s was not found in /usr/lib/postgresql/*/bin or on PATH, and %s.\n' \
                "$program" "$tried" >&2
            printf '       Install it (Debian, as root: apt-get install -y %s), or set\n' \
                "$package" >&2
            printf '       NATSAPI_TEST_POSTGRES_URL to a PostgreSQL of yours.\n' >&2
            return 1
        fi
    fi
    printf '%s/%s\n' "$dir" "$program"
}

# pg_query URL SQL: prints the one-value answer of SQL, or fails (no password prompt, 5 s to
# connect). Needs PG_PSQL.
pg_query() {
    PGCONNECT_TIMEOUT=5 "$PG_PSQL" "$1" -X -w -q -A -t -v ON_ERROR_STOP=1 -c "$2"
}

# Prints the URL with its password (if any) replaced by ***.
pg_redact() {
    sed -E 's#^(postgres(ql)?://[^:/@]*):[^@]*@#\1:***@#; s#password=[^ ]*#password=***#' <<<"$1"
}

# Fails (with the reason) unless the server answers and the role may CREATE DATABASE.
pg_check_usable() {
    local url="$1" shown can_create
    shown="$(pg_redact "$url")"
    if ! can_create="$(pg_query "$url" \
        'SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user' 2>&1)"; then
        printf 'error: the PostgreSQL at %s does not answer:\n%s\n' "$shown" "$can_create" >&2
        return 1
    fi
    if [[ "$can_create" != t ]]; then
        printf 'error: the role of %s may not CREATE DATABASE (the tests create one each);\n' \
            "$shown" >&2
        printf '       ALTER ROLE ... CREATEDB, or use another role.\n' >&2
        return 1
    fi
}

# Prints a TCP port on 127.0.0.1 that is free right now.
pg_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Runs a PostgreSQL program as the cluster's owner (nobody under root), in the cluster directory
# (a user without a home directory cannot stay in root's working directory).
pg_as_owner() {
    (cd "$PG_THROWAWAY_DIR" && "${PG_RUN_AS[@]}" "$@")
}

# Starts the throwaway cluster (step 3 in the header) and exports its URL.
start_throwaway_postgres() {
    local initdb bin dir port attempt program
    initdb="$(pg_program initdb postgresql)" || return 1
    bin="$(dirname "$initdb")"
    for program in pg_ctl postgres; do
        [[ -x "$bin/$program" ]] || {
            printf 'error: %s has initdb but no %s\n' "$bin" "$program" >&2
            return 1
        }
    done
    dir="$(mktemp -d "${TMPDIR:-/tmp}/natsapi-pg.XXXXXX")" || return 1
    PG_THROWAWAY_DIR="$dir"
    PG_THROWAWAY_BIN="$bin"
    trap stop_test_postgres EXIT
    trap 'stop_test_postgres; exit 130' INT
    trap 'stop_test_postgres; exit 143' TERM
    PG_RUN_AS=()
    if [[ "$(id -u)" == 0 ]]; then
        # initdb and postgres refuse root.
        chown nobody: "$dir" || return 1
        if command -v setpriv >/dev/null 2>&1; then
            PG_RUN_AS=(setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups --)
        else
            PG_RUN_AS=(runuser -u nobody --)
        fi
        if ! pg_as_owner test -w "$dir"; then
            printf 'error: user nobody cannot write %s (is TMPDIR=%s private to root?)\n' \
                "$dir" "${TMPDIR:-/tmp}" >&2
            return 1
        fi
    fi
    step "initdb: a throwaway PostgreSQL cluster in $dir ($("$bin/postgres" --version))"
    if ! pg_as_owner "$initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale \
        --no-sync >"$dir/initdb.log" 2>&1; then
        printf 'error: initdb failed:\n' >&2
        tail -n 20 "$dir/initdb.log" >&2
        return 1
    fi
    cat >>"$dir/data/postgresql.conf" <<CONF || return 1
# natsapi scripts/postgres.sh: a throwaway cluster for the tests.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
full_page_writes = off
max_connections = 200
CONF
    # The port is free when chosen but could be taken before postgres binds it: try again then.
    for attempt in 1 2 3 4 5; do
        port="$(pg_free_port)" || return 1
        # Emptied, not removed: under root the file belongs to nobody, who must go on writing it.
        [[ ! -e "$dir/postgres.log" ]] || : >"$dir/postgres.log"
        if pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -o "-p $port" \
            -w -t 60 start >/dev/null 2>&1; then
            break
        fi
        if ((attempt == 5)) || ! grep -q 'could not bind' "$dir/postgres.log"; then
            printf 'error: postgres did not start (port %s):\n' "$port" >&2
            tail -n 20 "$dir/postgres.log" >&2
            return 1
        fi
        printf '    port %s was taken before postgres bound it: trying another\n' "$port" >&2
    done
    export NATSAPI_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
    pg_check_usable "$NATSAPI_TEST_POSTGRES_URL" || return 1
    printf '    PostgreSQL for the tests: %s (throwaway, stopped at exit)\n' \
        "$NATSAPI_TEST_POSTGRES_URL" >&2
}

# Stops the throwaway cluster, if one runs, and removes its directory. Safe to call twice.
stop_test_postgres() {
    local dir="$PG_THROWAWAY_DIR" pid
    [[ -n "$dir" ]] || return 0
    PG_THROWAWAY_DIR=""
    if [[ -f "$dir/data/postmaster.pid" ]]; then
        pid="$(head -n 1 "$dir/data/postmaster.pid")"
        if ! (cd "$dir" && "${PG_RUN_AS[@]}" "$PG_THROWAWAY_BIN/pg_ctl" -D "$dir/data" \
            -m immediate -w -t 30 stop >/dev/null 2>&1); then
            [[ "$pid" =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null
        fi
    fi
    rm -rf -- "$dir"
}

# Makes NATSAPI_TEST_POSTGRES_URL name a usable server (see the header). Returns 1 on failure.
ensure_test_postgres() {
    PG_PSQL="$(pg_program psql postgresql-client)" || return 1
    if [[ -n "${NATSAPI_TEST_POSTGRES_URL:-}" ]]; then
        pg_check_usable "$NATSAPI_TEST_POSTGRES_URL" || {
            printf '       (from NATSAPI_TEST_POSTGRES_URL: fix or unset it)\n' >&2
            return 1
        }
        printf '    PostgreSQL for the tests: %s (NATSAPI_TEST_POSTGRES_URL)\n' \
            "$(pg_redact "$NATSAPI_TEST_POSTGRES_URL")" >&2
        export NATSAPI_TEST_POSTGRES_URL
        return 0
    fi
    if [[ "${NATSAPI_TEST_POSTGRES_THROWAWAY:-0}" == 0 ]] &&
        pg_check_usable "$PG_DEFAULT_URL" 2>/dev/null; then
        export NATSAPI_TEST_POSTGRES_URL="$PG_DEFAULT_URL"
        printf '    PostgreSQL for the tests: %s (already running)\n' "$PG_DEFAULT_URL" >&2
        return 0
    fi
    start_throwaway_postgres
}

# with_test_database COMMAND...: runs COMMAND with NATSAPI_TEST_STORE_URL naming a fresh database
# on the test server (after ensure_test_postgres), and drops the database afterwards, whatever
# COMMAND answered. Returns COMMAND's status.
with_test_database() {
    local name="natsapi_script_$$_${RANDOM}" rc=0 url
    pg_query "$NATSAPI_TEST_POSTGRES_URL" "CREATE DATABASE $name" >/dev/null || return 1
    url="$(sed -E 's#^(postgres(ql)?://[^/?]*)(/[^?]*)?#\1/'"$name"'#' <<<"$NATSAPI_TEST_POSTGRES_URL")"
    NATSAPI_TEST_STORE_URL="$url" "$@" || rc=$?
    pg_query "$NATSAPI_TEST_POSTGRES_URL" "DROP DATABASE IF EXISTS $name WITH (FORCE)" \
        >/dev/null || true
    return "$rc"
}

# Run directly: provision, then run the command (or print the server's version) and stop.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    # shellcheck source=scripts/lib.sh
    . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
    ensure_test_postgres || exit 1
    if (($# == 0)); then
        pg_query "$NATSAPI_TEST_POSTGRES_URL" 'SELECT version()'
        printf 'NATSAPI_TEST_POSTGRES_URL=%s\n' "$(pg_redact "$NATSAPI_TEST_POSTGRES_URL")"
        exit 0
    fi
    rc=0
    "$@" || rc=$?
    exit "$rc"
fi
