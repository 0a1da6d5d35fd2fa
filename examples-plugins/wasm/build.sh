#!/bin/sh
# Builds the WebAssembly example plugins into OUTDIR (default: target/wasm-plugins):
#   fas_stats_wasm_c.wasm     from fas_stats.c  (clang, wasm32-wasi, reactor)
#   fas_stats_wasm_rust.wasm  from fas_stats.rs (rustc, wasm32-unknown-unknown)
#   id_stats_wasm.wasm        from id_stats.rs  (the benchmark's trivial plugin)
#   id_stats_wasm_c.wasm      from id_stats.c   (the same, from C)
#
# Usage: examples-plugins/wasm/build.sh [OUTDIR]
# Tools (override with the variables):
#   WASM_CC     C compiler with the wasm32-wasi target and wasi-libc (default clang-14;
#               Debian: clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32)
#   WASM_RUSTC  rustc with the wasm32-unknown-unknown standard library (default
#               /usr/bin/rustc when it exists, else rustc; Debian: rustc
#               libstd-rust-dev-wasm32; rustup: rustup target add wasm32-unknown-unknown)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/target/wasm-plugins}
mkdir -p "$out"
cc=${WASM_CC:-clang-14}
if [ -z "${WASM_RUSTC:-}" ]; then
    if [ -x /usr/bin/rustc ]; then WASM_RUSTC=/usr/bin/rustc; else WASM_RUSTC=rustc; fi
fi

"$cc" --target=wasm32-wasi -mexec-model=reactor -O2 -std=c11 -Wall -Wextra -Werror \
    -Wl,--strip-debug -I "$root/plugin-sdk/c" -I "$root/plugin-sdk/wasm" \
    "$here/fas_stats.c" -o "$out/fas_stats_wasm_c.wasm"
"$cc" --target=wasm32-wasi -mexec-model=reactor -O2 -std=c11 -Wall -Wextra -Werror \
    -Wl,--strip-debug -I "$root/plugin-sdk/c" -I "$root/plugin-sdk/wasm" \
    "$here/id_stats.c" -o "$out/id_stats_wasm_c.wasm"

sdk="$out/.rlib"
mkdir -p "$sdk"
"$WASM_RUSTC" --edition 2021 --crate-type rlib --target wasm32-unknown-unknown -O \
    --crate-name polyplug_wasm --cfg 'feature="std"' \
    "$root/plugin-sdk/wasm/rust/src/lib.rs" -o "$sdk/libpolyplug_wasm.rlib"
for p in fas_stats:fas_stats_wasm_rust id_stats:id_stats_wasm; do
    src=${p%%:*}
    name=${p#*:}
    "$WASM_RUSTC" --edition 2021 --crate-type cdylib --target wasm32-unknown-unknown -O \
        -C strip=debuginfo -L "$sdk" --extern polyplug_wasm="$sdk/libpolyplug_wasm.rlib" \
        "$here/$src.rs" -o "$out/$name.wasm"
done
echo "built in $out: fas_stats_wasm_c.wasm fas_stats_wasm_rust.wasm id_stats_wasm.wasm id_stats_wasm_c.wasm"
