/*
 * fas_stats in C: genome size and GC content of a FASTA file, or of one FASTA record.
 *
 * Shows a stateful plugin against polyplug.h: initialize allocates a read buffer that
 * every compute of the worker reuses, compute reads one file per entity (files mode)
 * or takes the record polyplug read for it (records mode: pp_record), finalize logs
 * what the worker did and release_state frees the buffer. The same plugin exists in
 * every language under examples-plugins/, with identical output rows.
 *
 * `cargo build --release` at the repository root builds it into
 * target/release/libfas_stats_c.so; by hand:
 *
 *     cc -shared -fPIC -O2 -I plugin-sdk/c examples-plugins/c/fas_stats.c \
 *        -o libfas_stats_c.so
 *     polyplug run ./libfas_stats_c.so files 'examples-plugins/data/?*.fas'
 *     polyplug run ./libfas_stats_c.so records fasta examples-plugins/data/genomes.fa
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* examples-plugins/wasm/fas_stats.c builds this very file as WebAssembly: it defines
 * FAS_STATS_WASM, which selects the WebAssembly header and the ID fas_stats_wasm_c. */
#ifdef FAS_STATS_WASM
#include "polyplug_wasm.h"
#define FAS_STATS_ID "fas_stats_wasm_c"
#define FAS_STATS_IMPLEMENTATION "C, polyplug_wasm.h (WebAssembly)"
#else
#include "polyplug.h"
#define FAS_STATS_ID "fas_stats_c"
#define FAS_STATS_IMPLEMENTATION "C, polyplug.h"
#endif

typedef struct state {
    char *buf; /* reused file buffer */
    size_t cap;
    uint64_t files;
    uint64_t records;
    uint64_t letters;
} state;

static int32_t initialize(const pp_call *call, void **state_out) {
    state *s = calloc(1, sizeof *s);
    if (!s) return pp_error(call, "out of memory");
    s->cap = 1 << 16;
    s->buf = malloc(s->cap);
    if (!s->buf) {
        free(s);
        return pp_error(call, "out of memory");
    }
    *state_out = s;
    return PP_OK;
}

/* Reads the whole file at `path` into s->buf; returns its size or -1 (errno set). */
static long read_file(state *s, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = 0;
    for (;;) {
        if (n == s->cap) {
            char *bigger = realloc(s->buf, s->cap * 2);
            if (!bigger) {
                fclose(f);
                errno = ENOMEM;
                return -1;
            }
            s->buf = bigger;
            s->cap *= 2;
        }
        size_t got = fread(s->buf + n, 1, s->cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        errno = EIO;
        return -1;
    }
    return (long)n;
}

static int32_t compute(void *st, const char *entity, size_t len, const pp_call *call) {
    state *s = st;
    char path[4096];
    char msg[4352];
    size_t record_len;
    const uint8_t *record = pp_record(call, &record_len);
    const char *data;
    long n;
    if (record) {
        /* Records mode: the record's header line and sequence lines. */
        data = (const char *)record;
        n = (long)record_len;
        s->records++;
    } else {
        if (len >= sizeof path) return pp_error(call, "file path too long");
        memcpy(path, entity, len);
        path[len] = '\0';
        n = read_file(s, path);
        if (n < 0) {
            snprintf(msg, sizeof msg, "cannot read %s: %s", path, strerror(errno));
            return pp_error(call, msg);
        }
        data = s->buf;
        s->files++;
    }
    uint64_t size = 0, gc = 0;
    int at_line_start = 1, in_header = 0;
    for (long i = 0; i < n; i++) {
        unsigned char b = (unsigned char)data[i];
        if (at_line_start) in_header = (b == '>');
        at_line_start = (b == '\n');
        if (in_header || b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == 0x0b ||
            b == 0x0c)
            continue;
        size++;
        if (b == 'G' || b == 'C' || b == 'g' || b == 'c') gc++;
    }
    s->letters += size;

    int64_t min_length = pp_param_int(call, "min_length", 0);
    if (size == 0) {
        pp_log(call, record ? "genome_size\tno sequence letters in the record"
                            : "genome_size\tno sequence letters in the file");
        return PP_OK;
    }
    if ((int64_t)size < min_length) {
        snprintf(msg, sizeof msg, "genome_size\t%" PRIu64 " letters, below min_length %" PRId64,
                 size, min_length);
        pp_log(call, msg);
        return PP_OK;
    }
    pp_push_int(call, (int64_t)size);
    pp_push_float(call, (double)gc / (double)size);
    return PP_OK;
}

static int32_t finalize(void *st, const pp_call *call) {
    state *s = st;
    char msg[128];
    if (s->records > 0 && s->files == 0)
        snprintf(msg, sizeof msg, "processed %" PRIu64 " records, %" PRIu64 " sequence letters",
                 s->records, s->letters);
    else
        snprintf(msg, sizeof msg, "processed %" PRIu64 " files, %" PRIu64 " sequence letters",
                 s->files, s->letters);
    pp_log(call, msg);
    return PP_OK;
}

static void release_state(void *st) {
    state *s = st;
    if (!s) return;
    free(s->buf);
    free(s);
}

static const char *const OUTPUT[] = {"genome_size", "GC_content"};

static const pp_param_def PARAMETERS[] = {
    {"min_length", "int", "0", "genomes with fewer sequence letters than this give no result"},
};

static const pp_plugin PLUGIN = {
    .abi_version = POLYPLUG_ABI_VERSION,
    .struct_size = sizeof(pp_plugin),
    .id = FAS_STATS_ID,
    .version = "1.0",
    .input = "path of a FASTA file (one genome, one or more records)",
    .output = OUTPUT,
    .n_output = 2,
    .parameters = PARAMETERS,
    .n_parameters = 1,
    .method = "genome_size counts the letters of all sequence lines (header lines starting "
              "with '>' and whitespace excluded); GC_content is the number of G and C letters "
              "(case-insensitive) divided by genome_size",
    .implementation = FAS_STATS_IMPLEMENTATION,
    .initialize = initialize,
    .compute = compute,
    .finalize = finalize,
    .release_state = release_state,
};

POLYPLUG_EXPORT const pp_plugin *polyplug_plugin(void) { return &PLUGIN; }
