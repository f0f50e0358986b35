# Sourced by scripts/demo and scripts/test: installs what they need when it
# is missing, and skips what is already there.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# A target directory outside the clone is reused across clones when it
# exists; cargo creates it otherwise.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ci-dashboard-target}"
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
    cargo install --force wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
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

build_release() {
  step "Building the dashboard (cargo leptos build --release)"
  cargo leptos build --release
}

BIN="$CARGO_TARGET_DIR/release/ci-dashboard"
