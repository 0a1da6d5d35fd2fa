#!/usr/bin/env bash
# Runs polyplug's whole test suite from a fresh clone: installs the system packages the
# tests need (Debian; as root or through sudo), builds every workspace member (the
# polyplug binary, the example and fixture plugins), then runs all tests.
#
# Usage: tests/run-all.sh [extra cargo test arguments]
#        FUZZ_SECONDS=60 tests/run-all.sh   (each fuzz target longer; default 15 s)
set -euo pipefail
cd "$(dirname "$0")/.."

# Compilers and servers the tests use for real: a C compiler for C plugins, Nim, clang
# with the WASI sysroot and Debian's rustc with the wasm32 standard library for
# WebAssembly guests, PostgreSQL for the shared store, Slurm and munge for scale-out,
# samtools and tabix (bgzip) to check records mode's indexes against theirs.
PACKAGES=(gcc bc time nim clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32 rustc
          libstd-rust-dev-wasm32 postgresql slurm-wlm munge samtools tabix)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cargo build --workspace
cargo test --workspace "$@"

# Every fuzz target for a short fixed time (nightly and cargo-fuzz, installed when
# missing): a crash fails the suite with its input in fuzz/artifacts/.
fuzz/run.sh "${FUZZ_SECONDS:-15}"
