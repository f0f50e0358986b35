# Sourced by scripts/demo and scripts/test: installs what they need when it
# is missing, and skips what is already there.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# A target directory outside the clone is reused across clones when it
# exists; cargo creates it otherwise.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ci-dashboard-target}"
# Scripted runs build once; incremental caches would only fill the disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# Keeps cargo-leptos' cache out of the home directory.
export XDG_CACHE_HOME="${XDG_CACHE_HOME:-$ROOT/.cache}"
export PATH="$ROOT/end2end/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

CARGO_LEPTOS_VERSION=0.3.10
# The CLI must match the crate pinned in Cargo.toml exactly.
WASM_BINDGEN_VERSION="$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' "$ROOT/Cargo.toml")"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

step() { printf '\n==> %s\n' "$*"; }

ensure_build_tools() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    step "Adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if [ "$(cargo leptos --version 2>/dev/null)" != "cargo-leptos $CARGO_LEPTOS_VERSION" ]; then
    step "Installing cargo-leptos $CARGO_LEPTOS_VERSION (compiles for 15-25 minutes, once)"
    cargo install --locked cargo-leptos --version "$CARGO_LEPTOS_VERSION"
  fi
  if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
    step "Installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 6 minutes, once)"
    # --locked builds it with the dependencies its release was tested with.
    # Where the registry lacks one of them (seen here: webpki-roots 1.0.11,
    # which ureq needs) it fails at once, before compiling; then the newest
    # compatible versions are used, and the script says so.
    cargo install --locked --force wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" || {
      echo "warning: wasm-bindgen-cli's locked dependencies are not all in the registry;" \
        "building it with the newest compatible ones" >&2
      cargo install --force wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
    }
  fi
  ensure_node_packages
}

# Playwright for the browser tests and binaryen's wasm-opt for release
# builds (Debian's binaryen is too old: its bundles never hydrate).
ensure_node_packages() {
  if [ ! -x end2end/node_modules/.bin/wasm-opt ] || [ ! -x end2end/node_modules/.bin/playwright ] \
    || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
    step "Installing Node packages (npm ci)"
    (cd end2end && npm ci --no-audit --no-fund)
  fi
}

ensure_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    step "Installing Debian's Chromium"
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
  fi
}

# promtool checks /metrics in the tests (Debian's prometheus package; its
# service is not started in a container without an init system).
ensure_promtool() {
  if ! command -v promtool > /dev/null; then
    step "Installing Debian's prometheus package (for promtool)"
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus
  fi
}

build_release() {
  step "Building the dashboard (cargo leptos build --release --precompress --split)"
  # Precompressed .br/.gz assets are served as they are, at maximum quality;
  # --split puts each lazy page's code in a WASM file of its own.
  cargo leptos build --release --precompress --split
}

BIN="$CARGO_TARGET_DIR/release/ci-dashboard"

# Waits until the server (process PID) answers /healthz on PORT; fails with
# the end of LOG when it exits first or does not answer within 60 s.
wait_for_server() {
  local port="$1" pid="$2" log="$3"
  for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$port/healthz" > /dev/null 2>&1; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "error: the server exited before answering; its log:" >&2
      tail -n 50 "$log" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "error: the server did not answer within 60 s; its log:" >&2
  tail -n 50 "$log" >&2
  return 1
}

FIRESTORE_EMULATOR=/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts the Firestore emulator in its own process group (its launcher does
# not exec java, so only the group can be stopped) and exports
# FIRESTORE_EMULATOR_HOST. Callers stop it with stop_firestore_emulator.
start_firestore_emulator() {
  if ! command -v java > /dev/null; then
    step "Installing Java for the Firestore emulator"
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openjdk-17-jre-headless
  fi
  if [ ! -x "$FIRESTORE_EMULATOR" ]; then
    echo "error: the Firestore emulator is missing ($FIRESTORE_EMULATOR): install the Google Cloud SDK's cloud-firestore-emulator component (README, \"Deploying on Cloud Firestore\")" >&2
    return 1
  fi
  step "Starting the Firestore emulator"
  local port log
  port="$(free_port)"
  log="$(mktemp)"
  setsid "$FIRESTORE_EMULATOR" start --host=127.0.0.1 --port="$port" > "$log" 2>&1 &
  EMULATOR_PID=$!
  for _ in $(seq 1 300); do
    if grep -q "Dev App Server is now running" "$log"; then
      export FIRESTORE_EMULATOR_HOST="127.0.0.1:$port"
      echo "Firestore emulator on $FIRESTORE_EMULATOR_HOST (process group $EMULATOR_PID)"
      return 0
    fi
    if ! kill -0 "$EMULATOR_PID" 2>/dev/null; then cat "$log" >&2; return 1; fi
    sleep 0.2
  done
  cat "$log" >&2
  echo "error: the Firestore emulator did not start within 60 s" >&2
  return 1
}

stop_firestore_emulator() {
  if [ -n "${EMULATOR_PID:-}" ]; then
    kill -- "-$EMULATOR_PID" 2>/dev/null || true
    wait "$EMULATOR_PID" 2>/dev/null || true
    EMULATOR_PID=""
  fi
}
