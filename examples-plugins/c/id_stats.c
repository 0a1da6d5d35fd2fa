/*
 * id_stats in C: the trivial plugin of the benchmarks, the length of the ID (bytes) and the
 * number of G and C letters in it (case-insensitive). Its compute is as small as a
 * compute can be, so that bench/run measures what the host costs per entity. The same
 * plugin exists in every language under examples-plugins/, with identical rows.
 *
 * `cargo build --release` at the repository root builds it into
 * target/release/libid_stats_c.so; examples-plugins/wasm/id_stats.c builds this very
 * file as WebAssembly (with ID_STATS_WASM defined: id_stats_wasm_c).
 */
#include <stdint.h>

#ifdef ID_STATS_WASM
#include "polyplug_wasm.h"
#define ID_STATS_ID "id_stats_wasm_c"
#else
#include "polyplug.h"
#define ID_STATS_ID "id_stats_c"
#endif

static const char *const OUTPUT[] = {"length", "gc_count"};

static int32_t compute(void *state, const char *entity, size_t len, const pp_call *call) {
    (void)state;
    int64_t gc = 0;
    /* Each letter counted as 0 or 1, as the Rust example's `filter(..).count()` does:
     * no branch on the data, which a compiler keeps for wasm32 (a misprediction on
     * every other letter of a random ID). */
    for (size_t i = 0; i < len; i++) {
        char b = entity[i];
        gc += (b == 'G') | (b == 'C') | (b == 'g') | (b == 'c');
    }
    pp_push_int(call, (int64_t)len);
    pp_push_int(call, gc);
    return PP_OK;
}

static const pp_plugin PLUGIN = {
    .abi_version = POLYPLUG_ABI_VERSION,
    .struct_size = sizeof(pp_plugin),
    .id = ID_STATS_ID,
    .version = "1.0",
    .input = "any ID",
    .output = OUTPUT,
    .n_output = 2,
    .compute = compute,
};

POLYPLUG_EXPORT const pp_plugin *polyplug_plugin(void) { return &PLUGIN; }
