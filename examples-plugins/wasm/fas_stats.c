/*
 * fas_stats in C, as a sandboxed WebAssembly plugin: genome size and GC content of a
 * FASTA file.
 *
 * The very same code as examples-plugins/c/fas_stats.c (a stateful plugin against
 * polyplug.h: initialize allocates a read buffer that every compute of the worker
 * reuses, compute reads one file per entity, finalize logs what the worker did),
 * compiled from that file with FAS_STATS_WASM defined: it then includes
 * polyplug_wasm.h, which adds the WebAssembly glue, and its ID is fas_stats_wasm_c.
 * Its rows are identical to the native ones.
 *
 * Build (examples-plugins/wasm/build.sh does this and the Rust version):
 *
 *     clang-14 --target=wasm32-wasi -mexec-model=reactor -O2 \
 *         -I plugin-sdk/c -I plugin-sdk/wasm examples-plugins/wasm/fas_stats.c \
 *         -o fas_stats_wasm_c.wasm
 *     polyplug run fas_stats_wasm_c.wasm files 'examples-plugins/data/?*.fas'
 *
 * In files mode the sandbox lets compute read its entity's file and nothing else.
 */
#define FAS_STATS_WASM
#include "../c/fas_stats.c"
