/*
 * polyplug_wasm.h — build a polyplug.h plugin as a sandboxed WebAssembly module.
 *
 * Guest ABI version 1 (see plugin-sdk/wasm/ABI.md). Write the plugin exactly as a
 * native one against polyplug.h — a static pp_plugin descriptor and a function
 *
 *     const pp_plugin *polyplug_plugin(void);
 *
 * returning it — and include THIS header instead of polyplug.h in exactly one .c file
 * of the plugin (other files include polyplug.h). This header adds the glue that
 * turns the descriptor into the guest ABI: it exports polyplug_abi_version,
 * polyplug_describe, polyplug_initialize, polyplug_compute, polyplug_compute_batch,
 * polyplug_finalize and polyplug_compute_id, and implements pp_host_api with imports of the "polyplug"
 * module. Build:
 *
 *     clang-14 --target=wasm32-wasi -mexec-model=reactor -O2 \
 *         -I plugin-sdk/c -I plugin-sdk/wasm plugin.c -o plugin.wasm
 *
 * (-mexec-model=reactor: the module is a library with no main; the host calls its
 * WASI constructor _initialize once per instance.) With clang's plain
 * --target=wasm32 and no libc, define POLYPLUG_WASM_NO_LIBC before including and
 * provide malloc/free/strlen/memcmp/memcpy yourself.
 *
 * OWNERSHIP: the same legend as polyplug.h. In addition:
 *   - the entity given to compute is a buffer owned by this glue, valid until
 *     compute returns (it is NUL-terminated one byte past `len`, as a convenience);
 *   - the parameters in pp_call are decoded once per instance and stay valid for the
 *     life of the instance;
 *   - release_state is called by polyplug_finalize right after finalize. An instance
 *     that trapped is thrown away without finalize: its whole memory goes with it.
 *
 * SANDBOX: the module sees no environment, clock or network. fopen() works on the
 * entity's file in `files` mode and inside folders granted with --allow-dir; any
 * other path fails with errno ENOTCAPABLE ("Capabilities insufficient"). printf()
 * output goes to polyplug's stderr. exit() or abort() fails the entity and the
 * instance is re-created.
 *
 * THREADS: each polyplug worker has its own instance (its own memory), so globals
 * are per worker and need no locking.
 */
#ifndef POLYPLUG_WASM_H
#define POLYPLUG_WASM_H

#include "polyplug.h"

#ifndef POLYPLUG_WASM_NO_LIBC
#include <stdlib.h>
#include <string.h>
#endif

/** The guest ABI version this header implements (polyplug_abi_version returns it). */
#define POLYPLUG_WASM_ABI_VERSION 1

#if !defined(__wasm__)
#error "polyplug_wasm.h builds WebAssembly plugins: compile with --target=wasm32-wasi"
#endif

#define PPW_IMPORT(name) __attribute__((import_module("polyplug"), import_name(#name)))
#define PPW_EXPORT(name) __attribute__((export_name(#name)))

/* ---- Host imports (module "polyplug"). Strings are borrowed and copied. ---- */
PPW_IMPORT(push_null) void ppw_push_null(void);
PPW_IMPORT(push_bool) void ppw_push_bool(int32_t value);
PPW_IMPORT(push_int) void ppw_push_int(int64_t value);
PPW_IMPORT(push_float) void ppw_push_float(double value);
PPW_IMPORT(push_str) void ppw_push_str(const char *ptr, size_t len);
PPW_IMPORT(begin_list) void ppw_begin_list(void);
PPW_IMPORT(end_list) void ppw_end_list(void);
PPW_IMPORT(log) void ppw_log(const char *ptr, size_t len);
PPW_IMPORT(error) void ppw_error(const char *ptr, size_t len);
PPW_IMPORT(next_entity) int32_t ppw_next_entity(char *dest, size_t cap);
PPW_IMPORT(end_entity) void ppw_end_entity(int32_t status);
PPW_IMPORT(input_len) size_t ppw_input_len(void);
PPW_IMPORT(input_read) void ppw_input_read(char *dest);
PPW_IMPORT(record_len) int32_t ppw_record_len(void);
PPW_IMPORT(record_read) void ppw_record_read(unsigned char *dest);
PPW_IMPORT(fields_len) int32_t ppw_fields_len(void);
PPW_IMPORT(fields_read) void ppw_fields_read(unsigned char *dest);
PPW_IMPORT(params_len) size_t ppw_params_len(void);
PPW_IMPORT(params_read) void ppw_params_read(unsigned char *dest);
PPW_IMPORT(meta) void ppw_meta(const char *key, size_t key_len, const char *value,
                               size_t value_len);
PPW_IMPORT(meta_param) void ppw_meta_param(const char *name, size_t name_len,
                                           const char *datatype, size_t datatype_len,
                                           const char *default_value, size_t default_len,
                                           const char *doc, size_t doc_len);

#ifndef POLYPLUG_WASM_NO_GLUE

/* Defined by the plugin, as for a native plugin. */
const pp_plugin *polyplug_plugin(void);

/* ---- pp_host_api on top of the imports ---- */
static void ppw_cb_push_null(pp_sink *s) { (void)s; ppw_push_null(); }
static void ppw_cb_push_bool(pp_sink *s, int32_t v) { (void)s; ppw_push_bool(v); }
static void ppw_cb_push_int(pp_sink *s, int64_t v) { (void)s; ppw_push_int(v); }
static void ppw_cb_push_float(pp_sink *s, double v) { (void)s; ppw_push_float(v); }
static void ppw_cb_push_str(pp_sink *s, const char *p, size_t n) { (void)s; ppw_push_str(p, n); }
static void ppw_cb_begin_list(pp_sink *s) { (void)s; ppw_begin_list(); }
static void ppw_cb_end_list(pp_sink *s) { (void)s; ppw_end_list(); }
static void ppw_cb_log(pp_sink *s, const char *p, size_t n) { (void)s; ppw_log(p, n); }
static void ppw_cb_error(pp_sink *s, const char *p, size_t n) { (void)s; ppw_error(p, n); }

static const pp_host_api ppw_api = {
    sizeof(pp_host_api), ppw_cb_push_null, ppw_cb_push_bool, ppw_cb_push_int,
    ppw_cb_push_float,   ppw_cb_push_str,  ppw_cb_begin_list, ppw_cb_end_list,
    ppw_cb_log,          ppw_cb_error,
};

/* ---- Per-instance glue state ---- */
static unsigned char *ppw_blob;   /* encoded parameters, owned */
static pp_param *ppw_params;      /* decoded, pointing into ppw_blob */
static size_t ppw_n_params;
static int ppw_params_ready;
static void *ppw_state;           /* the plugin's state from initialize */
static char *ppw_input;           /* the current entity or unit, owned */
static size_t ppw_input_cap;
static unsigned char *ppw_rec;    /* records mode: the current record, owned */
static size_t ppw_rec_cap;
static unsigned char *ppw_fblob;  /* records mode: its encoded fields, owned */
static size_t ppw_fblob_cap;
static pp_field *ppw_fields;      /* decoded, pointing into ppw_fblob */
static size_t ppw_fields_cap;

static void ppw_report(const char *msg) { ppw_error(msg, strlen(msg)); }

/* Little-endian readers over the parameter blob (see ABI.md, "Parameters"). */
typedef struct ppw_reader {
    const unsigned char *p, *end;
    int bad;
} ppw_reader;

static uint32_t ppw_u32(ppw_reader *r) {
    uint32_t v = 0;
    if (r->end - r->p < 4) { r->bad = 1; return 0; }
    memcpy(&v, r->p, 4);
    r->p += 4;
    return v;
}

static int ppw_value(ppw_reader *r, pp_value *out) {
    if (r->p >= r->end) return r->bad = 1, 0;
    out->kind = *r->p++;
    switch (out->kind) {
    case PP_NULL: return 1;
    case PP_BOOL:
        if (r->p >= r->end) return r->bad = 1, 0;
        out->as.boolean = *r->p++;
        return 1;
    case PP_INT:
    case PP_FLOAT:
        if (r->end - r->p < 8) return r->bad = 1, 0;
        if (out->kind == PP_INT) memcpy(&out->as.integer, r->p, 8);
        else memcpy(&out->as.real, r->p, 8);
        r->p += 8;
        return 1;
    case PP_STR: {
        uint32_t n = ppw_u32(r);
        if (r->bad || (size_t)(r->end - r->p) < n) return r->bad = 1, 0;
        out->as.string.ptr = (const char *)r->p;
        out->as.string.len = n;
        r->p += n;
        return 1;
    }
    case PP_LIST: {
        uint32_t n = ppw_u32(r);
        if (r->bad || (size_t)(r->end - r->p) < n) return r->bad = 1, 0;
        pp_value *items = n ? calloc(n, sizeof *items) : NULL;
        if (n && !items) return r->bad = 1, 0;
        for (uint32_t i = 0; i < n; i++)
            if (!ppw_value(r, &items[i])) return 0;
        out->as.list.items = items;
        out->as.list.len = n;
        return 1;
    }
    default: return r->bad = 1, 0;
    }
}

static int ppw_load_params(void) {
    if (ppw_params_ready) return 1;
    size_t n = ppw_params_len();
    ppw_blob = malloc(n ? n : 1);
    if (!ppw_blob) return 0;
    ppw_params_read(ppw_blob);
    ppw_reader r = {ppw_blob, ppw_blob + n, 0};
    uint32_t count = ppw_u32(&r);
    if (r.bad || count > n) return 0;
    ppw_params = count ? calloc(count, sizeof *ppw_params) : NULL;
    if (count && !ppw_params) return 0;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t len = ppw_u32(&r);
        if (r.bad || (size_t)(r.end - r.p) < len) return 0;
        ppw_params[i].name.ptr = (const char *)r.p;
        ppw_params[i].name.len = len;
        r.p += len;
        if (!ppw_value(&r, &ppw_params[i].value)) return 0;
    }
    ppw_n_params = count;
    ppw_params_ready = 1;
    return 1;
}

static pp_call ppw_call(void) {
    pp_call c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof(pp_call);
    c.params = ppw_params;
    c.n_params = ppw_n_params;
    c.api = &ppw_api;
    c.sink = NULL;
    return c;
}

/* Grows *buf to hold n bytes; 0 when out of memory. */
static int ppw_grow(unsigned char **buf, size_t *cap, size_t n) {
    if (n <= *cap && *buf) return 1;
    unsigned char *bigger = realloc(*buf, n ? n : 1);
    if (!bigger) return 0;
    *buf = bigger;
    *cap = n ? n : 1;
    return 1;
}

/* Records mode: puts the current record and its fields into *c (nothing when the
 * entity is not a record); 0 when out of memory or the fields do not decode. */
static int ppw_load_record(pp_call *c) {
    int32_t n = ppw_record_len();
    if (n < 0) return 1;
    if (!ppw_grow(&ppw_rec, &ppw_rec_cap, (size_t)n)) return 0;
    ppw_record_read(ppw_rec);
    c->record.ptr = ppw_rec;
    c->record.len = (size_t)n;
    int32_t m = ppw_fields_len();
    if (m < 4) return 1;
    if (!ppw_grow(&ppw_fblob, &ppw_fblob_cap, (size_t)m)) return 0;
    ppw_fields_read(ppw_fblob);
    ppw_reader r = {ppw_fblob, ppw_fblob + m, 0};
    uint32_t count = ppw_u32(&r);
    if (r.bad || count > (uint32_t)m) return 0;
    if (count > ppw_fields_cap) {
        pp_field *more = realloc(ppw_fields, count * sizeof *more);
        if (!more) return 0;
        ppw_fields = more;
        ppw_fields_cap = count;
    }
    for (uint32_t i = 0; i < count; i++) {
        pp_str *parts[2] = {&ppw_fields[i].name, &ppw_fields[i].value};
        for (int k = 0; k < 2; k++) {
            uint32_t len = ppw_u32(&r);
            if (r.bad || (size_t)(r.end - r.p) < len) return 0;
            parts[k]->ptr = (const char *)r.p;
            parts[k]->len = len;
            r.p += len;
        }
    }
    c->fields = count ? ppw_fields : NULL;
    c->n_fields = count;
    return 1;
}

/* Copies the current input into ppw_input (NUL-terminated); returns its length. */
static int ppw_load_input(size_t *len) {
    size_t n = ppw_input_len();
    if (n + 1 > ppw_input_cap) {
        char *bigger = realloc(ppw_input, n + 1);
        if (!bigger) return 0;
        ppw_input = bigger;
        ppw_input_cap = n + 1;
    }
    ppw_input_read(ppw_input);
    ppw_input[n] = '\0';
    *len = n;
    return 1;
}

static void ppw_meta_str(const char *key, const char *value) {
    if (value) ppw_meta(key, strlen(key), value, strlen(value));
}

PPW_EXPORT(polyplug_abi_version) int32_t ppw_abi_version(void) {
    return POLYPLUG_WASM_ABI_VERSION;
}

PPW_EXPORT(polyplug_describe) int32_t ppw_describe(void) {
    const pp_plugin *p = polyplug_plugin();
    if (!p) {
        ppw_report("polyplug_plugin() returned NULL");
        return PP_ERROR;
    }
    if (p->abi_version != POLYPLUG_ABI_VERSION || p->struct_size != sizeof(pp_plugin)) {
        ppw_report("the pp_plugin descriptor does not match polyplug.h (abi_version or "
                   "struct_size); set .abi_version = POLYPLUG_ABI_VERSION and "
                   ".struct_size = sizeof(pp_plugin)");
        return PP_ERROR;
    }
    ppw_meta_str("ID", p->id);
    ppw_meta_str("VERSION", p->version);
    ppw_meta_str("INPUT", p->input);
    ppw_meta_str("METHOD", p->method);
    ppw_meta_str("IMPLEMENTATION", p->implementation);
    ppw_meta_str("REQ_SOFTWARE", p->req_software);
    ppw_meta_str("REQ_HARDWARE", p->req_hardware);
    ppw_meta_str("ADVICE", p->advice);
    for (size_t i = 0; p->output && i < p->n_output; i++) ppw_meta_str("OUTPUT", p->output[i]);
    for (size_t i = 0; p->parameters && i < p->n_parameters; i++) {
        const pp_param_def *d = &p->parameters[i];
        const char *f[4] = {d->name, d->datatype, d->default_value, d->documentation};
        for (int k = 0; k < 4; k++)
            if (!f[k]) f[k] = "";
        ppw_meta_param(f[0], strlen(f[0]), f[1], strlen(f[1]), f[2], strlen(f[2]), f[3],
                       strlen(f[3]));
    }
    if (p->initialize) ppw_meta_str("FUNCTION", "initialize");
    if (p->compute) ppw_meta_str("FUNCTION", "compute");
    if (p->finalize || p->release_state) ppw_meta_str("FUNCTION", "finalize");
    if (p->compute_id) ppw_meta_str("FUNCTION", "compute_id");
    return PP_OK;
}

PPW_EXPORT(polyplug_initialize) int32_t ppw_initialize(void) {
    const pp_plugin *p = polyplug_plugin();
    if (!ppw_load_params()) {
        ppw_report("cannot decode the parameters (out of memory?)");
        return PP_ERROR;
    }
    if (!p->initialize) return PP_OK;
    pp_call c = ppw_call();
    return p->initialize(&c, &ppw_state);
}

PPW_EXPORT(polyplug_compute) int32_t ppw_compute(void) {
    const pp_plugin *p = polyplug_plugin();
    size_t len;
    if (!p->compute) {
        ppw_report("the plugin has no compute function");
        return PP_ERROR;
    }
    if (!ppw_load_params() || !ppw_load_input(&len)) {
        ppw_report("out of memory reading the entity");
        return PP_ERROR;
    }
    pp_call c = ppw_call();
    if (!ppw_load_record(&c)) {
        ppw_report("out of memory reading the record");
        return PP_ERROR;
    }
    return p->compute(ppw_state, ppw_input, len, &c);
}

#ifndef POLYPLUG_WASM_OWN_BATCH
/* A batch in one call: each entity the host gives is computed as polyplug_compute
 * computes it (a batch has no records) and ended with its status: one call into the
 * module per batch rather than per entity. (Define POLYPLUG_WASM_OWN_BATCH to write
 * this export yourself.) */
PPW_EXPORT(polyplug_compute_batch) int32_t ppw_compute_batch(void) {
    const pp_plugin *p = polyplug_plugin();
    if (!p->compute) {
        ppw_report("the plugin has no compute function");
        return PP_ERROR;
    }
    if (!ppw_load_params()) {
        ppw_report("cannot decode the parameters (out of memory?)");
        return PP_ERROR;
    }
    pp_call c = ppw_call();
    for (;;) {
        /* The host copies the entity into ppw_input when it fits (its NUL too). */
        size_t cap = ppw_input ? ppw_input_cap - 1 : 0;
        int32_t n = ppw_next_entity(ppw_input, cap);
        if (n < 0) return PP_OK;
        size_t len = (size_t)n;
        if (!ppw_input || len > cap) {
            if (!ppw_load_input(&len)) {
                ppw_report("out of memory reading the entity");
                ppw_end_entity(PP_ERROR);
                continue;
            }
        }
        ppw_input[len] = '\0';
        ppw_end_entity(p->compute(ppw_state, ppw_input, len, &c));
    }
}
#endif

PPW_EXPORT(polyplug_finalize) int32_t ppw_finalize(void) {
    const pp_plugin *p = polyplug_plugin();
    int32_t status = PP_OK;
    pp_call c = ppw_call();
    if (p->finalize) status = p->finalize(ppw_state, &c);
    if (p->release_state) p->release_state(ppw_state);
    ppw_state = NULL;
    return status;
}

PPW_EXPORT(polyplug_compute_id) int32_t ppw_compute_id(void) {
    const pp_plugin *p = polyplug_plugin();
    size_t len;
    if (!p->compute_id) {
        ppw_report("the plugin has no compute_id function");
        return PP_ERROR;
    }
    if (!ppw_load_params() || !ppw_load_input(&len)) {
        ppw_report("out of memory reading the unit");
        return PP_ERROR;
    }
    pp_call c = ppw_call();
    return p->compute_id(ppw_input, len, &c);
}

#endif /* POLYPLUG_WASM_NO_GLUE */

#endif /* POLYPLUG_WASM_H */
