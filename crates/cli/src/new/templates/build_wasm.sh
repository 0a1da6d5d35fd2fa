#!/bin/sh
# Builds {{name}}.wasm from src/{{name}}.c with clang's wasm32-wasi target.
# Debian/Ubuntu: apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32
#   POLYPLUG_SDK  the plugin SDK folder (holds c/polyplug.h, wasm/polyplug_wasm.h);
#                 default: what `polyplug sdk path` prints (the SDK inside polyplug)
#   WASM_CC       the clang to use (default: clang-14, else clang)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
sdk=${POLYPLUG_SDK:-}
if [ -z "$sdk" ]; then
  sdk=$(polyplug sdk path) || {
    echo "build.sh: polyplug is not on PATH: put it there, or set POLYPLUG_SDK" >&2
    exit 1
  }
fi
cc=${WASM_CC:-}
if [ -z "$cc" ]; then
  if command -v clang-14 >/dev/null 2>&1; then cc=clang-14; else cc=clang; fi
fi
"$cc" --target=wasm32-wasi -mexec-model=reactor -O2 -Wl,--strip-debug \
  -I "$sdk/c" -I "$sdk/wasm" "$here/src/{{name}}.c" -o "$here/{{name}}.wasm"
echo "built $here/{{name}}.wasm"
