#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "{{sdk_header}}"

/* One worker's state. */
typedef struct state {
    uint64_t computed;
} state;

static int32_t initialize(const pp_call *call, void **state_out) {
    state *s = calloc(1, sizeof *s);
    if (!s) return pp_error(call, "out of memory");
    *state_out = s;
    return PP_OK;
}

static int32_t compute(void *st, const char *entity, size_t len, const pp_call *call) {
    state *s = st;
    int64_t min_length = pp_param_int(call, "min_length", 0);
    if ((int64_t)len < min_length) {
        char msg[128];
        snprintf(msg, sizeof msg, "length\t%zu characters, below min_length %" PRId64, len,
                 min_length);
        pp_log(call, msg); /* no value pushed: no result for this entity */
        return PP_OK;
    }
    int64_t gc = 0;
    for (size_t i = 0; i < len; i++) {
        char c = entity[i];
        if (c == 'G' || c == 'C' || c == 'g' || c == 'c') gc++;
    }
    pp_push_int(call, (int64_t)len); /* values in OUTPUT order */
    pp_push_int(call, gc);
    s->computed++;
    return PP_OK; /* on failure: return pp_error(call, "message"); */
}

static int32_t finalize(void *st, const pp_call *call) {
    state *s = st;
    char msg[64];
    snprintf(msg, sizeof msg, "computed %" PRIu64 " entities", s->computed);
    pp_log(call, msg);
    return PP_OK;
}

static void release_state(void *st) { free(st); }

static const char *const OUTPUT[] = {"length", "gc_count"};

static const pp_param_def PARAMETERS[] = {
    {"min_length", "int", "0", "IDs shorter than this give no result"},
};

static const pp_plugin PLUGIN = {
    .abi_version = POLYPLUG_ABI_VERSION,
    .struct_size = sizeof(pp_plugin),
    .id = "{{name}}",
    .version = "0.1.0",
    .input = "any ID (one line of the IDs file)",
    .output = OUTPUT,
    .n_output = 2,
    .parameters = PARAMETERS,
    .n_parameters = 1,
    .method = "length: number of bytes of the ID; gc_count: number of G and C letters",
    .implementation = "{{implementation}}",
    .initialize = initialize,
    .compute = compute,
    .finalize = finalize,
    .release_state = release_state,
};

POLYPLUG_EXPORT const pp_plugin *polyplug_plugin(void) { return &PLUGIN; }
