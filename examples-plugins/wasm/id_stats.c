/*
 * id_stats in C as WebAssembly: the very same code as examples-plugins/c/id_stats.c,
 * compiled with ID_STATS_WASM defined (polyplug_wasm.h, ID id_stats_wasm_c).
 * examples-plugins/wasm/build.sh builds it into id_stats_wasm_c.wasm.
 */
#define ID_STATS_WASM
#include "../c/id_stats.c"
