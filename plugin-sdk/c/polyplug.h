/*
 * polyplug.h — write polyplug compute plugins in C, C++, Zig, Nim or any language
 * that can export a C function from a shared library.
 *
 * ABI version 1. This header mirrors the Rust crate `polyplug-abi` field by field.
 *
 * A plugin is a shared library (.so/.dylib) that exports ONE function:
 *
 *     const pp_plugin *polyplug_plugin(void);
 *
 * returning a pointer to a static, constant descriptor: the ABI version and the size of
 * the descriptor (the host checks both before reading anything else), the metadata
 * (the Prenacs constants ID, VERSION, INPUT, OUTPUT, PARAMETERS, ...) and pointers to
 * the functions initialize, compute, finalize, release_state and compute_id.
 *
 * Minimal plugin (build: cc -shared -fPIC -O2 -I plugin-sdk/c len.c -o liblen.so):
 *
 *     #include "polyplug.h"
 *     static const char *OUTPUT[] = {"length"};
 *     static int32_t compute(void *state, const char *entity, size_t len,
 *                            const pp_call *call) {
 *         (void)state; (void)entity;
 *         pp_push_int(call, (int64_t)len);
 *         return PP_OK;
 *     }
 *     static const pp_plugin PLUGIN = {
 *         .abi_version = POLYPLUG_ABI_VERSION, .struct_size = sizeof(pp_plugin),
 *         .id = "len", .version = "1.0", .input = "any ID",
 *         .output = OUTPUT, .n_output = 1, .compute = compute,
 *     };
 *     POLYPLUG_EXPORT const pp_plugin *polyplug_plugin(void) { return &PLUGIN; }
 *
 * ------------------------------------------------------------------------------------
 * OWNERSHIP LEGEND (applies to every function below)
 *
 *   borrowed  The pointer belongs to whoever passed it and is valid only until the
 *             function it was passed to returns. Copy what you need to keep.
 *   static    Valid for the life of the process and never modified.
 *   plugin's  Allocated by the plugin and freed by the plugin.
 *
 * - Everything the HOST passes to a plugin function (the entity, the pp_call, its
 *   parameters and their strings and lists) is BORROWED for the duration of that call.
 * - Everything the PLUGIN passes to a host callback (strings given to pp_push_str,
 *   pp_log, pp_error) is BORROWED by the host: the host copies it before the callback
 *   returns, so the plugin may free or reuse the buffer right after the call.
 * - The descriptor, its strings, its OUTPUT array and its PARAMETERS array are STATIC.
 * - The state returned by initialize is the PLUGIN'S: the host never looks inside it,
 *   passes it back to compute/finalize, and gives it to release_state exactly once.
 *   Hence the host never frees plugin memory and the plugin never frees host memory.
 *
 * Strings are UTF-8. Strings in the descriptor are NUL-terminated; strings crossing a
 * call carry an explicit length and are NOT NUL-terminated (a length of 0 means the empty
 * string whatever the pointer). Invalid UTF-8 pushed as a value fails the entity.
 *
 * THREADS: the host runs several workers, each with its own state from its own
 * initialize call. One state is used by one thread at a time, but different states are
 * used concurrently by different threads, so plugin functions must not share mutable
 * globals without locking. pp_call and its callbacks must not leave the thread and the
 * call they were given to.
 *
 * ERRORS: never let a C++ exception, longjmp or Rust panic cross these functions. Return
 * PP_ERROR after pp_error(call, message): the host fails that entity only and goes on.
 * A crash (segfault, abort) in a native plugin takes the host process down: native
 * plugins run with the user's rights, unsandboxed.
 *
 * EVOLUTION: pp_plugin and pp_host_api only grow at the end. A newer host reads older
 * plugins (it reads only struct_size bytes of the descriptor); a plugin may use a host
 * callback newer than version 1 only after checking call->api->struct_size.
 * ------------------------------------------------------------------------------------
 */
#ifndef POLYPLUG_H
#define POLYPLUG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The ABI version this header describes. */
#define POLYPLUG_ABI_VERSION 1u

/** Return status of a plugin function: success. */
#define PP_OK 0
/** Return status of a plugin function: failure (give the message with pp_error first). */
#define PP_ERROR 1

/** Marks the entry function as exported from the shared library. */
#if defined(_WIN32)
#define POLYPLUG_EXPORT __declspec(dllexport)
#else
#define POLYPLUG_EXPORT __attribute__((visibility("default")))
#endif

/** Kinds of pp_value. */
enum {
    PP_NULL = 0,  /* no value (Python None)                 */
    PP_BOOL = 1,  /* as.boolean: 0 false, other true        */
    PP_INT = 2,   /* as.integer: signed 64-bit              */
    PP_FLOAT = 3, /* as.real: IEEE double                    */
    PP_STR = 4,   /* as.string: UTF-8 bytes with a length   */
    PP_LIST = 5   /* as.list: array of pp_value             */
};

/** A borrowed string: len UTF-8 bytes at ptr, not NUL-terminated. */
typedef struct pp_str {
    const char *ptr;
    size_t len;
} pp_str;

struct pp_value;

/** A borrowed array of values. */
typedef struct pp_list {
    const struct pp_value *items;
    size_t len;
} pp_list;

/** A typed value, borrowed from the host (parameter values). `kind` tells which
 *  member of `as` is valid. */
typedef struct pp_value {
    uint32_t kind;
    union {
        int32_t boolean;
        int64_t integer;
        double real;
        pp_str string;
        pp_list list;
    } as;
} pp_value;

/** One parameter of the run: name and value, borrowed for the call. */
typedef struct pp_param {
    pp_str name;
    pp_value value;
} pp_param;

/** One PARAMETERS declaration (static strings), as a Prenacs 4-tuple.
 *  datatype: "int", "float", "str", "bool", "list" or "any".
 *  default_value: written as text ("3", "0.5", "true"), "" or NULL for none. */
typedef struct pp_param_def {
    const char *name;
    const char *datatype;
    const char *default_value;
    const char *documentation;
} pp_param_def;

/** Opaque receiver of what a plugin pushes during one call. Host-owned. */
typedef struct pp_sink pp_sink;

/** Callbacks offered by the host. Each copies its arguments before returning. Not
 *  thread-safe: call them only from the thread running the plugin function, and only
 *  during that function. */
typedef struct pp_host_api {
    /** sizeof(pp_host_api) in the host: a callback exists if its offset is below. */
    uint32_t struct_size;
    /** Append a null result value. */
    void (*push_null)(pp_sink *sink);
    /** Append a boolean result value (0 false, anything else true). */
    void (*push_bool)(pp_sink *sink, int32_t value);
    /** Append an integer result value. */
    void (*push_int)(pp_sink *sink, int64_t value);
    /** Append a float result value. */
    void (*push_float)(pp_sink *sink, double value);
    /** Append a string result value: len UTF-8 bytes at ptr (borrowed, copied). */
    void (*push_str)(pp_sink *sink, const char *ptr, size_t len);
    /** Start a list value: following pushes go into it until the matching end_list. */
    void (*begin_list)(pp_sink *sink);
    /** Close the innermost open list. Every begin_list needs one before returning. */
    void (*end_list)(pp_sink *sink);
    /** Add a log message (borrowed, copied); suggested form "key\tmessage". */
    void (*log)(pp_sink *sink, const char *ptr, size_t len);
    /** Set the error message of this call (borrowed, copied); then return PP_ERROR. */
    void (*error)(pp_sink *sink, const char *ptr, size_t len);
} pp_host_api;

/** Borrowed bytes: len bytes at ptr, not necessarily UTF-8. */
typedef struct pp_bytes {
    const uint8_t *ptr;
    size_t len;
} pp_bytes;

/** One named field of a record (records mode): name and value, UTF-8, borrowed. */
typedef struct pp_field {
    pp_str name;
    pp_str value;
} pp_field;

/** What every plugin function receives from the host, borrowed for the call.
 *  Members after `sink` came later: read them through pp_record / pp_field_get,
 *  which check struct_size (an older host passes no record). */
typedef struct pp_call {
    /** sizeof(pp_call) in the host. */
    uint32_t struct_size;
    /** Every declared parameter that has a value (given in --params or defaulted),
     *  already converted to its declared datatype. */
    const pp_param *params;
    size_t n_params;
    /** The host's callbacks (static). */
    const pp_host_api *api;
    /** Pass this to every callback. */
    pp_sink *sink;
    /** Records mode (polyplug run ... records <format> <file>...), during compute: the
     *  record's bytes as in its file, without the final line ending (FASTA: the header
     *  line and the sequence lines). record.ptr is NULL when the entity is not a
     *  record; an empty record has a non-NULL ptr and len 0. */
    pp_bytes record;
    /** Records mode: the record's fields, in order (CSV/TSV columns, JSONL members,
     *  FASTA description and sequence, FASTQ description, sequence and quality). */
    const pp_field *fields;
    size_t n_fields;
} pp_call;

/** sizeof(pp_call) of the first version, which had no record (40 on 64-bit
 *  platforms). */
#define PP_CALL_V1_SIZE offsetof(pp_call, record)

/** initialize: called once per worker before its first compute. On success, store the
 *  plugin's state (may be NULL) in *state_out and return PP_OK. On failure call
 *  pp_error and return PP_ERROR: the run stops with that message. Optional. */
typedef int32_t (*pp_initialize_fn)(const pp_call *call, void **state_out);

/** compute: compute one entity (len bytes of valid UTF-8 at entity, borrowed, not
 *  NUL-terminated; the host guarantees the UTF-8). Push the result values in OUTPUT order, and any logs. Pushing no
 *  value means "no result for this entity" (logs are kept). Return PP_OK, or call
 *  pp_error and return PP_ERROR to fail this entity only. Required. */
typedef int32_t (*pp_compute_fn)(void *state, const char *entity, size_t len,
                                 const pp_call *call);

/** finalize: called once per worker after its last compute, also when entities
 *  failed or the run was interrupted. May log. Must not free the state: that is
 *  release_state's job. Optional. */
typedef int32_t (*pp_finalize_fn)(void *state, const pp_call *call);

/** release_state: free the state returned by initialize. Called exactly once per
 *  successful initialize, after finalize. Required if initialize allocates. */
typedef void (*pp_release_state_fn)(void *state);

/** compute_id: the --idsproc function: push exactly one string, the output ID of the
 *  input unit (len bytes at unit, borrowed). No state. Optional. */
typedef int32_t (*pp_compute_id_fn)(const char *unit, size_t len, const pp_call *call);

/** The plugin descriptor (ABI version 1; sizeof is 144 bytes on 64-bit platforms).
 *  All strings static and NUL-terminated; optional fields NULL when absent. */
typedef struct pp_plugin {
    uint32_t abi_version;           /* POLYPLUG_ABI_VERSION                       */
    uint32_t struct_size;           /* sizeof(pp_plugin)                          */
    const char *id;                 /* ID, at most 256 characters                 */
    const char *version;            /* VERSION, at most 64 characters             */
    const char *input;              /* INPUT, at most 512 characters              */
    const char *const *output;      /* OUTPUT attribute names                     */
    size_t n_output;
    const pp_param_def *parameters; /* PARAMETERS (may be NULL when n is 0)       */
    size_t n_parameters;
    const char *method;             /* optional texts, at most 4096 characters    */
    const char *implementation;
    const char *req_software;
    const char *req_hardware;
    const char *advice;
    pp_initialize_fn initialize;       /* optional */
    pp_compute_fn compute;             /* required (unless an idsproc-only plugin) */
    pp_finalize_fn finalize;           /* optional */
    pp_release_state_fn release_state; /* optional */
    pp_compute_id_fn compute_id;       /* optional */
} pp_plugin;

/* ---- Convenience wrappers (inline; same ownership as the callbacks they call) ---- */

/** Append a null result. */
static inline void pp_push_null(const pp_call *c) { c->api->push_null(c->sink); }
/** Append a boolean result. */
static inline void pp_push_bool(const pp_call *c, int v) { c->api->push_bool(c->sink, v != 0); }
/** Append an integer result. */
static inline void pp_push_int(const pp_call *c, int64_t v) { c->api->push_int(c->sink, v); }
/** Append a float result. */
static inline void pp_push_float(const pp_call *c, double v) { c->api->push_float(c->sink, v); }
/** Append a string result of len bytes (borrowed, copied). */
static inline void pp_push_strn(const pp_call *c, const char *s, size_t len) {
    c->api->push_str(c->sink, s, len);
}
/** Append a NUL-terminated string result (borrowed, copied). */
static inline void pp_push_str(const pp_call *c, const char *s) {
    c->api->push_str(c->sink, s, strlen(s));
}
/** Start a list result. */
static inline void pp_begin_list(const pp_call *c) { c->api->begin_list(c->sink); }
/** Close the innermost list. */
static inline void pp_end_list(const pp_call *c) { c->api->end_list(c->sink); }
/** Add a NUL-terminated log message (borrowed, copied). */
static inline void pp_log(const pp_call *c, const char *msg) {
    c->api->log(c->sink, msg, strlen(msg));
}
/** Set the error message (borrowed, copied). Return PP_ERROR afterwards. */
static inline int32_t pp_error(const pp_call *c, const char *msg) {
    c->api->error(c->sink, msg, strlen(msg));
    return PP_ERROR;
}

/** The value of parameter `name`, or NULL when it has none (borrowed for the call). */
static inline const pp_value *pp_param_get(const pp_call *c, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < c->n_params; i++) {
        const pp_param *p = &c->params[i];
        if (p->name.len == n && memcmp(p->name.ptr, name, n) == 0) return &p->value;
    }
    return NULL;
}

/** The integer parameter `name`, or `fallback` when absent or not an integer. */
static inline int64_t pp_param_int(const pp_call *c, const char *name, int64_t fallback) {
    const pp_value *v = pp_param_get(c, name);
    return (v && v->kind == PP_INT) ? v->as.integer : fallback;
}

/** The number parameter `name` (float or integer), or `fallback`. */
static inline double pp_param_float(const pp_call *c, const char *name, double fallback) {
    const pp_value *v = pp_param_get(c, name);
    if (v && v->kind == PP_FLOAT) return v->as.real;
    if (v && v->kind == PP_INT) return (double)v->as.integer;
    return fallback;
}

/** The boolean parameter `name`, or `fallback`. */
static inline int pp_param_bool(const pp_call *c, const char *name, int fallback) {
    const pp_value *v = pp_param_get(c, name);
    return (v && v->kind == PP_BOOL) ? v->as.boolean != 0 : fallback;
}

/** The string parameter `name` (borrowed, NOT NUL-terminated), or an empty pp_str with
 *  ptr NULL when absent. */
static inline pp_str pp_param_str(const pp_call *c, const char *name) {
    const pp_value *v = pp_param_get(c, name);
    if (v && v->kind == PP_STR) return v->as.string;
    pp_str none = {NULL, 0};
    return none;
}

/** Records mode: the record being computed (borrowed for the call), or NULL when the
 *  entity is not a record (ids and files mode); its length goes to *len. */
static inline const uint8_t *pp_record(const pp_call *c, size_t *len) {
    *len = 0;
    if (c->struct_size < sizeof(pp_call) || c->record.ptr == NULL) return NULL;
    *len = c->record.len;
    return c->record.ptr;
}

/** Records mode: the value of the record's field `name` (borrowed, NOT NUL-terminated),
 *  or an empty pp_str with ptr NULL when the record has no such field. */
static inline pp_str pp_field_get(const pp_call *c, const char *name) {
    pp_str none = {NULL, 0};
    if (c->struct_size < sizeof(pp_call)) return none;
    size_t n = strlen(name);
    for (size_t i = 0; i < c->n_fields; i++) {
        const pp_field *f = &c->fields[i];
        if (f->name.len == n && memcmp(f->name.ptr, name, n) == 0) return f->value;
    }
    return none;
}

#ifdef __cplusplus
}
#endif

#endif /* POLYPLUG_H */
