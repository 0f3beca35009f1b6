#!/usr/bin/env bash
# usertrail's one entry point. ./build.sh help lists the commands.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
ROOT=$PWD

WASM_TARGET=wasm32-unknown-unknown
WASM_BINDGEN_VERSION=0.2.130
GEN=pkg/gen
export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"

say() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf '\033[1;31merror: %s\033[0m\n' "$*" >&2; exit 1; }

usage() {
  cat <<'USAGE'
usage: ./build.sh <command>
  setup   install what is missing (apt packages, rust target and components,
          wasm-bindgen CLI, npm packages); does nothing when all is there
  build   build the npm package into pkg/ (wasm-bindgen output in pkg/gen/)
  test    setup, then run every test suite; exits non-zero if any fails
  demo    setup, build, and serve the demo on http://127.0.0.1:8080
  bench   time the workloads natively and as wasm in Node, against the peers
          (express-session, connect-redis, better-sqlite3, DuckDB); JSON in target/bench/
  fuzz [SECONDS]
          run every cargo-fuzz target in fuzz/ for SECONDS each (default 60),
          from the committed seeds; prints executions and crashes per target
USAGE
}

# ---------------------------------------------------------------- setup --
APT_UPDATED=0
apt_install() {
  local pkgs=("$@")
  [ ${#pkgs[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  note "installing with apt-get: ${pkgs[*]}"
  if [ $APT_UPDATED -eq 0 ]; then
    $sudo apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
}

setup() {
  say "setup: checking tools (installs only what is missing)"
  command -v cargo >/dev/null || die "cargo is missing: install Rust with rustup first (https://rustup.rs)"
  command -v node >/dev/null || die "node is missing: install Node.js 20 or newer"

  local missing=()
  command -v clang >/dev/null || missing+=(clang)            # SQLite's C for wasm
  command -v chromium >/dev/null || missing+=(chromium)      # browser tests
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
  command -v sqlite3 >/dev/null || missing+=(sqlite3)        # exports must open in the CLI
  command -v redis-server >/dev/null || missing+=(redis-server) # the shared store's tests
  command -v redis-cli >/dev/null || missing+=(redis-tools)     # forms the test cluster
  command -v redis-sentinel >/dev/null || missing+=(redis-sentinel) # the failover tests
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; else note "apt packages: all present"; fi

  if ! rustup target list --installed | grep -qx "$WASM_TARGET"; then
    note "adding rust target $WASM_TARGET"
    rustup target add "$WASM_TARGET"
  else
    note "rust target $WASM_TARGET: present"
  fi
  for c in rustfmt clippy; do
    if ! rustup component list --installed | grep -q "^$c"; then
      note "adding rust component $c"
      rustup component add "$c"
    fi
  done

  if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
    note "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 3 minutes)"
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  else
    note "wasm-bindgen $WASM_BINDGEN_VERSION: present"
  fi

  # One npm ci at a time (two builds started together would delete each
  # other's files), and the stamp counts only with every package present.
  mkdir -p target
  local stamp=node_modules/.usertrail-lock
  (
    flock 9
    if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp" || ! npm_packages_present; then
      note "installing npm dev packages (npm ci)"
      rm -f "$stamp"
      npm ci --no-audit --no-fund --loglevel=error
      cp package-lock.json "$stamp"
    else
      note "npm packages: up to date"
    fi
  ) 9>target/.npm-ci.lock
}

# Whether every dev dependency in package.json has its package.json installed.
npm_packages_present() {
  node -e '
    const fs = require("node:fs");
    const deps = Object.keys(JSON.parse(fs.readFileSync("package.json", "utf8")).devDependencies ?? {});
    process.exit(deps.every((d) => fs.existsSync(`node_modules/${d}/package.json`)) ? 0 : 1);
  '
}

# ---------------------------------------------------------------- build --
# Older binaryen (Debian's 108) breaks wasm-bindgen's externref table, so only
# a recent wasm-opt is used: `cargo install wasm-opt` gives 116.
WASM_OPT_MIN=116
wasm_opt_ok() {
  command -v wasm-opt >/dev/null || return 1
  local v
  v=$(wasm-opt --version 2>/dev/null | sed -n 's/^wasm-opt version \([0-9]*\).*/\1/p')
  [ -n "$v" ] && [ "$v" -ge "$WASM_OPT_MIN" ]
}

# wasm-bindgen's declarations name DOM types (RequestInfo, BufferSource, the
# WebAssembly namespace), which a Node project without the DOM lib lacks:
# they become aliases that are the real types where they exist (the DOM lib,
# workers' types) and structural ones elsewhere.
dom_free_types() {
  node - "$1" <<'JS'
const fs = require('node:fs');
const file = process.argv[2];
let text = fs.readFileSync(file, 'utf8');
const swaps = [
  ['export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;',
   'export type InitInput = string | URL | Request | Response | ArrayBuffer | ArrayBufferView | WasmModule;'],
  ['export type SyncInitInput = BufferSource | WebAssembly.Module;',
   'export type SyncInitInput = ArrayBuffer | ArrayBufferView | WasmModule;'],
  ['readonly memory: WebAssembly.Memory;', 'readonly memory: WasmMemory;'],
  ['readonly __wbindgen_externrefs: WebAssembly.Table;', 'readonly __wbindgen_externrefs: WasmTable;'],
];
for (const [from, to] of swaps) {
  if (!text.includes(from)) throw new Error(`build.sh dom_free_types: wasm-bindgen no longer writes: ${from}`);
  text = text.replace(from, to);
}
text += `
/** A compiled module: \`WebAssembly.Module\` where the lib declares it (DOM, workers), else any object. */
type WasmModule = typeof globalThis extends { WebAssembly: { Module: { prototype: infer M } } } ? M : object;
/** \`WebAssembly.Memory\` where the lib declares it. */
type WasmMemory = typeof globalThis extends { WebAssembly: { Memory: { prototype: infer M } } } ? M : object;
/** \`WebAssembly.Table\` where the lib declares it. */
type WasmTable = typeof globalThis extends { WebAssembly: { Table: { prototype: infer T } } } ? T : object;
`;
const left = text.split('\n').filter((l) => !/^\s*(\*|\/\/|\/\*)/.test(l)).join('\n').match(/\b(RequestInfo|BufferSource|WebAssembly\.)/);
if (left) throw new Error(`build.sh dom_free_types: a DOM type is left: ${left[0]}`);
fs.writeFileSync(file, text);
JS
}

build() {
  say "build: wasm (release) and the npm package in pkg/"
  cargo build --release --target "$WASM_TARGET" --lib
  rm -rf "$GEN"
  wasm-bindgen --target web --out-dir "$GEN" --out-name usertrail \
    "target/$WASM_TARGET/release/usertrail.wasm"
  dom_free_types "$GEN/usertrail.d.ts"
  # The error class is a wasm-bindgen snippet; give the package a stable path to it.
  local snippet
  snippet=$(cd "$GEN" && ls snippets/usertrail-*/src/wasm/error.js)
  [ "$(echo "$snippet" | wc -l)" -eq 1 ] || die "expected one error.js snippet, found: $snippet"
  printf "// Generated by build.sh: the error class the wasm bindings throw.\nexport { UserTrailError } from './%s';\n" \
    "$snippet" >"$GEN/error.js"
  local wasm="$GEN/usertrail_bg.wasm" before
  before=$(stat -c %s "$wasm")
  # wasm-opt takes a minute and more; its output is kept by the hash of its
  # input (and its flags), so a build whose wasm did not change reuses it.
  # -O2: as fast as -O3 and the same size here (peers bench, stop 41:
  # queries and sessions within the run-to-run noise, gzip 1,650,604 against
  # 1,653,323 bytes), in 106 s instead of 153; -O1 (41 s) made queries up
  # to half as slow again. docs/PERFORMANCE.md has the figures.
  local opt_flags="-O2 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue"
  local cache_dir=target/wasm-opt-cache key
  key=$( (cat "$wasm"; echo "$opt_flags"; wasm-opt --version 2>/dev/null) | sha256sum | cut -c1-32)
  if [ -f "$cache_dir/$key.wasm" ]; then
    cp "$cache_dir/$key.wasm" "$wasm"
    note "wasm-opt: input unchanged, reused $cache_dir/$key.wasm"
  elif wasm_opt_ok; then
    # shellcheck disable=SC2086 # the flags are words
    if wasm-opt $opt_flags "$wasm" -o "$wasm.opt" 2>"$GEN/wasm-opt.log"; then
      mv "$wasm.opt" "$wasm"
      mkdir -p "$cache_dir"
      cp "$wasm" "$cache_dir/$key.wasm"
      # Only the five latest are kept.
      # shellcheck disable=SC2012 # names are hex
      ls -t "$cache_dir"/*.wasm | tail -n +6 | xargs -r rm -f
      note "wasm-opt -O2: $before -> $(stat -c %s "$wasm") bytes"
    else
      rm -f "$wasm.opt"
      note "wasm-opt failed (see $GEN/wasm-opt.log); the package works without it"
    fi
  else
    note "no wasm-opt >= $WASM_OPT_MIN found; the package works without it"
  fi
  rm -f "$GEN/wasm-opt.log" "$GEN/.gitignore"
  # The dashboard's charts: Chart.js (MIT), vendored from the dev dependency.
  [ -f node_modules/chart.js/dist/chart.umd.min.js ] || die "node_modules/chart.js is missing: run ./build.sh setup"
  cp node_modules/chart.js/dist/chart.umd.min.js "$GEN/chart.umd.min.js"
  cp node_modules/chart.js/LICENSE.md "$GEN/chart.js-LICENSE.md"
  # The guides ship with the package (the README links them), copied so
  # that docs/ stays the one place they are written.
  rm -rf pkg/docs && cp -r docs pkg/docs
  note "wasm: $(stat -c %s "$wasm") bytes raw, $(gzip -9c "$wasm" | wc -c) bytes gzip"
}

# ----------------------------------------------------------------- test --
RESULTS=()
FAILED=0
LOG_DIR=target/test-logs

# run_suite NAME COUNTER CMD...: runs CMD, shows its output, records pass count.
run_suite() {
  local name=$1 counter=$2
  shift 2
  say "test: $name"
  local log="$LOG_DIR/$(echo "$name" | tr ' /()' '____').log" status=0 began=$SECONDS
  # Each suite runs in its own bash, so that `set -e` holds inside it.
  "$ROOT/build.sh" __run "$@" 2>&1 | tee "$log" || status=$?
  local count took=$((SECONDS - began))
  count=$($counter "$log")
  # The seconds each suite took (its compilation included) show where the
  # 30-minute budget of ./build.sh test goes.
  if [ $status -eq 0 ]; then
    RESULTS+=("PASS  $name  ($count; $took s)")
  else
    RESULTS+=("FAIL  $name  ($count; exit $status; $took s; log: $log)")
    FAILED=1
  fi
}

count_cargo() {
  awk '/^test result: /{p+=$4; f+=$6} END{printf "%d passed, %d failed", p, f}' "$1"
}
count_node() {
  awk '/^# pass /{p=$3} /^# fail /{f=$3} END{printf "%d passed, %d failed", p, f}' "$1"
}
count_none() {
  if grep -qE "^error|Diff in" "$1"; then echo "problems found"; else echo "clean"; fi
}

# Test files that need a Durable Object's storage run in workerd instead.
needs_workerd() { grep -q __usertrailStorage "$1"; }

# tests/suite.rs gathers every file that runs in Node into one binary; the
# files that run in Chromium or workerd are test targets of their own, and
# so is tests/pcache.rs (its module must start SQLite itself).
wasm_node_tests() {
  cargo test --target "$WASM_TARGET" --lib --test suite --test pcache
}

# wasm-bindgen-test-runner does not know workerd: each such file is built for
# wasm, bound with wasm-bindgen, and run by tests/js/workerd-tests.mjs inside
# a SQLite-backed Durable Object, printing what the runner would.
wasm_workerd_tests() {
  local f t exe dir
  for f in tests/*.rs; do
    needs_workerd "$f" || continue
    t=$(basename "$f" .rs)
    exe=$(cargo test --target "$WASM_TARGET" --test "$t" --no-run --message-format=json |
      node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
        for (const l of s.split("\n")) { try { const m = JSON.parse(l); if (m.executable) console.log(m.executable); } catch {} } })')
    dir=target/workerd-tests/$t
    rm -rf "$dir" && mkdir -p "$dir"
    wasm-bindgen --target web --out-dir "$dir/gen" --out-name suite "$exe"
    ROOT="$ROOT" node tests/js/workerd-tests.mjs "$dir"
  done
}

wasm_browser_tests() {
  local args=()
  for f in tests/*.rs; do
    grep -q run_in_dedicated_worker "$f" && args+=(--test "$(basename "$f" .rs)")
  done
  cargo test --target "$WASM_TARGET" "${args[@]}"
}

js_tests() {
  # Install the packed package into a scratch project, as a consumer would.
  local consumer=target/consumer
  rm -rf "$consumer" && mkdir -p "$consumer"
  local tarball
  tarball=$(cd pkg && npm pack --silent --pack-destination "$ROOT/target")
  printf '{ "name": "consumer", "private": true, "type": "module" }\n' >"$consumer/package.json"
  (cd "$consumer" && npm install --no-audit --no-fund --loglevel=error "../$tarball" >/dev/null)
  # Peers the tests use (and their type packages), from the dev install.
  for dep in playwright-core express hono redis ioredis passport passport-local connect-flash better-sqlite3 @types; do
    ln -sfn "$ROOT/node_modules/$dep" "$consumer/node_modules/$dep"
  done
  cp -r tests/js/. "$consumer/"
  (cd "$consumer" && ROOT="$ROOT" node --test --test-concurrency=1 ./*.test.mjs)
}

# The shipped declarations, compiled as users compile them: a browser project
# (the DOM lib) and a Node-only one (@types/node, no DOM lib), both strict
# and without skipLibCheck, under TypeScript 5 and the current major.
types_test() {
  local consumer=target/consumer
  cp tests/types/*.ts tests/types/tsconfig*.json "$consumer/"
  cd "$consumer"
  local tsc
  for tsc in "$ROOT/node_modules/typescript/bin/tsc" "$ROOT/node_modules/typescript-next/bin/tsc"; do
    local version
    version=$(node "$tsc" --version)
    node "$tsc" --noEmit -p tsconfig.json
    echo "$version, browser project: no type errors"
    node "$tsc" --noEmit -p tsconfig.node.json
    echo "$version, Node project: no type errors"
  done
}

test_all() {
  local started=$SECONDS
  setup
  RESULTS+=("      setup  ($((SECONDS - started)) s)")
  mkdir -p "$LOG_DIR"
  run_suite "fmt" count_none cargo fmt --check
  run_suite "clippy native" count_none cargo clippy --all-targets --all-features -- -D warnings
  run_suite "clippy wasm" count_none cargo clippy --all-targets --all-features --target "$WASM_TARGET" -- -D warnings
  run_suite "native tests" count_cargo cargo test
  run_suite "wasm tests in Node" count_cargo wasm_node_tests
  run_suite "wasm tests in a Chromium dedicated worker" count_cargo wasm_browser_tests
  run_suite "wasm tests in a workerd Durable Object" count_cargo wasm_workerd_tests
  run_suite "build" count_none build
  if [ $FAILED -eq 0 ] || [ -f "$GEN/usertrail_bg.wasm" ]; then
    run_suite "JS tests against the packed package" count_node js_tests
    run_suite "tsc --noEmit over the shipped types" count_none types_test
  fi
  say "summary ($((SECONDS - started)) s)"
  printf '    %s\n' "${RESULTS[@]}"
  [ $FAILED -eq 0 ] || die "some suites failed"
  note "all suites passed"
}

# ----------------------------------------------------------------- demo --
demo() {
  setup
  build
  say "demo: serving http://127.0.0.1:8080 (Ctrl-C stops)"
  node www/serve.mjs 8080
}

# ---------------------------------------------------------------- bench --
bench() {
  setup
  say "bench: native"
  mkdir -p target/bench
  cargo bench --features bench --bench native | tee target/bench/native.jsonl
  say "bench: wasm in Node"
  cargo build --release --target "$WASM_TARGET" --lib --features bench
  rm -rf target/bench/pkg
  wasm-bindgen --target web --out-dir target/bench/pkg --out-name usertrail \
    "target/$WASM_TARGET/release/usertrail.wasm"
  node bench/run.mjs target/bench/native.jsonl target/bench/pkg/usertrail.js
  say "bench: analytics on wasm in Node"
  node bench/analytics.mjs target/bench/pkg/usertrail.js
  say "bench: privacy on wasm in Node"
  node bench/privacy.mjs target/bench/pkg/usertrail.js
  say "bench: session middleware against express-session"
  node bench/middleware.mjs target/bench/pkg/usertrail.js
  say "bench: shared sessions on Redis against express-session + connect-redis"
  build
  node bench/redis.mjs pkg/index.js
  say "bench: the analytics pipeline (collector, Redis Streams, partitions) against trackBatch"
  node bench/pipeline.mjs pkg/index.js
  say "bench: collectors behind one port (node:cluster), 1, 2 and 4 processes; also target/bench/collectors.json"
  node bench/collectors.mjs pkg/index.js
  say "bench: partition failover over 10 kills -9 (runWorker, leases, standbys); also target/bench/failover.json"
  node bench/failover.mjs pkg/index.js
  say "bench: peers (better-sqlite3 by hand, DuckDB) on the same events; also target/bench/peers.json"
  node bench/peers.mjs pkg/index.js
  say "bench: rights across three app processes on one Redis, and Redis's AOF rewrite; also target/bench/rights.json"
  node bench/rights.mjs pkg/index.js
  say "bench: erasure on a file at 1M and 10M events (about 8 minutes, 3 GB of disk); also target/bench/erasure.json"
  node bench/erasure.mjs pkg/index.js
  say "bench: scale: 1M, 4M and 10M events in one engine on a file against DuckDB, every dashboard query cold and warm from a fresh process, and memory (about 15 minutes, 4 GB of disk); also target/bench/scale.json"
  SCALE_KEEP=1 node bench/scale.mjs pkg/index.js
  say "bench: a dashboard refreshed while events come, on the scale bench's 10M-event file: segments and queries after each ingest of 100 events; also target/bench/live.json"
  node bench/live.mjs pkg/index.js target/bench/scale/usertrail.db
  rm -rf target/bench/scale
  say "bench: breakdowns by a dimension on 1M events that set two, with and without the blocks' dimensions (about 1 minute each, 300 MB of disk)"
  node bench/dims-breakdown.mjs pkg target/bench/dims-breakdown.db
  node bench/dims-breakdown.mjs pkg target/bench/dims-breakdown.db --without
  rm -f target/bench/dims-breakdown.db target/bench/dims-breakdown.db-wal target/bench/dims-breakdown.db-shm
  say "bench: the engine in a Cloudflare Durable Object (workerd), against memory; also target/bench/edge.json"
  node bench/edge.mjs pkg/index.js
  say "bench: the demo's dashboard on OPFS in Chromium at 1M events, first render (a few minutes); also target/bench/dashboard-opfs.json"
  node bench/dashboard-opfs.mjs
}

# ----------------------------------------------------------------- fuzz --
CARGO_FUZZ_VERSION=0.13.2
fuzz() {
  local secs=${1:-60}
  case "$secs" in '' | *[!0-9]*) die "fuzz SECONDS must be a whole number, got '$secs'" ;; esac
  say "fuzz: every target for $secs s (libFuzzer through cargo-fuzz, stable toolchain)"
  if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
    note "installing cargo-fuzz $CARGO_FUZZ_VERSION (about 2 minutes)"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION"
  fi
  mkdir -p target/fuzz
  local t status=0 summary=""
  for t in $(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz list); do
    mkdir -p "target/fuzz/corpus/$t" "fuzz/seeds/$t"
    note "$t"
    # cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP lets stable take them.
    if (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "../target/fuzz/corpus/$t" "seeds/$t" -- \
      -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=4096 -max_len=65536) \
      >"target/fuzz/$t.log" 2>&1; then
      :
    else
      status=1
    fi
    local execs crashes
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "target/fuzz/$t.log" | tail -1)
    crashes=$(ls fuzz/artifacts/"$t" 2>/dev/null | grep -c '^crash-\|^oom-\|^timeout-' || true)
    summary+=$(printf '\n    %-12s %14s executions  %s crashes' "$t" "${execs:-?}" "$crashes")
  done
  say "fuzz: summary (logs in target/fuzz/, crashes in fuzz/artifacts/)"
  printf '%s\n' "$summary"
  return $status
}

case "${1:-help}" in
  setup) setup ;;
  build) build ;;
  test) test_all ;;
  demo) demo ;;
  bench) bench ;;
  fuzz) shift; fuzz "$@" ;;
  __run) shift; "$@" ;; # internal: one suite of `test`
  help | -h | --help) usage ;;
  *) usage; exit 2 ;;
esac
