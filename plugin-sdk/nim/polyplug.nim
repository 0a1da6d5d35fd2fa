## polyplug.nim — write polyplug compute plugins in Nim.
##
## ABI version 1. The low-level types below mirror `plugin-sdk/c/polyplug.h` and the
## Rust crate `polyplug-abi` field by field (sizes are checked at compile time on
## 64-bit platforms); the high-level part lets you write a plugin in plain Nim:
##
## .. code-block:: nim
##   import polyplug
##
##   const
##     ID* = "id_len"
##     VERSION* = "1.0"
##     INPUT* = "any ID"
##     OUTPUT* = ["length"]
##     PARAMETERS* = [("min_length", "int", "0", "shorter IDs give no result")]
##
##   type State = object
##     computed: int              # per-worker state: plain Nim fields
##
##   proc initialize(params: Params): State = State()
##
##   proc compute(state: var State, entity: string, params: Params): Computed =
##     if entity.len < params.getInt("min_length"):
##       result.log "length\tshorter than min_length"   # no result, one log
##       return
##     if entity == "boom":
##       raise newException(ValueError, "cannot handle boom")  # fails this entity only
##     result.add entity.len                               # typed result values
##     inc state.computed
##
##   proc finalize(state: var State, params: Params): seq[string] =
##     @["computed " & $state.computed & " entities"]      # log messages
##
##   exportPlugin(State)
##
## Constants are Nim constants with the Prenacs names: `ID`, `VERSION`, `INPUT`,
## `OUTPUT` (array of strings) are required; `PARAMETERS` (array of 4-tuples
## `(name, datatype, default, documentation)`), `METHOD`, `IMPLEMENTATION`,
## `REQ_SOFTWARE`, `REQ_HARDWARE` and `ADVICE` are optional.
##
## Functions, found by name by `exportPlugin`:
##
## - `initialize(params: Params): State` — optional, once per worker (else the state
##   is `default(State)`);
## - `compute(state: var State, entity: string, params: Params): Computed` — required;
##   with `exportPlugin()` (no state type) it is `compute(entity: string, params:
##   Params): Computed`. Results go in OUTPUT order; no result means "no result for this
##   entity" (the logs are kept);
## - `finalize(state: var State, params: Params): seq[string]` — optional, once per
##   worker after its last compute (also when entities failed); returns log messages;
## - `computeId(unit: string): string` — optional, the `--idsproc` function.
##
## Any exception (a `CatchableError`, or a `Defect` such as an index out of bounds)
## raised by one of them is caught at the boundary and fails that entity only, with
## the message `<ExceptionName>: <msg>`; the run goes on. Logs returned before the
## exception are lost, so return rather than raise when you want to keep them.
##
## Build
## =====
##
## A `.nim` file dropped into a plugin folder is compiled by polyplug on first use
## (see the README); by hand:
##
## .. code-block:: sh
##   nim c --app:lib --noMain --mm:orc --threads:on -d:release \
##       --path:plugin-sdk/nim -o:libmyplugin.so myplugin.nim
##
## `--noMain` because the host does not run a program: the SDK's exported entry
## `polyplug_plugin` calls `NimMain` (Nim's runtime set-up and your module's top-level
## code) exactly once, thread-safely (`pthread_once`), before returning the descriptor.
## Works with Nim 1.6 (`--mm:orc` is accepted there; `--gc:orc` is its older spelling)
## and Nim 2 (where ORC and threads are the defaults).
##
## Threads and memory management
## =============================
##
## polyplug calls a plugin from several of its own worker threads, threads that Nim did
## not create. Each worker owns one state: it calls initialize, compute and finalize on
## it from that one thread, and other workers use other states at the same time.
##
## - `--threads:on` is required (the SDK refuses to compile without it): Nim's allocator
##   is only thread-safe then.
## - `--mm:orc` (or `--mm:arc`) is recommended and is what polyplug uses: these memory
##   managers need no per-thread set-up, so foreign threads just work
##   (`setupForeignThreadGc` is a no-op there).
## - With the old `refc` GC (Nim 1.6's default), every thread has its own GC heap that
##   must be registered: the SDK calls `setupForeignThreadGc()` and updates the thread's
##   stack bottom at every entry point, so it works too, but a GC'd value must never go
##   from one worker's state to another's.
## - Never share mutable globals between states without a lock: two workers run
##   `compute` at the same time on different states.
##
## Ownership legend (same words as polyplug.h)
## ===========================================
##
## - *borrowed*: belongs to whoever passed it and is valid only until the function it
##   was passed to returns. The entity and the parameters are borrowed from the host:
##   the SDK copies the entity into a Nim `string` (a per-thread buffer reused from
##   call to call) and parameter values into `Value`s.
## - Everything the SDK passes to a host callback (result strings, logs, error
##   messages) is borrowed by the host, which copies it before the callback returns.
## - *static*: the descriptor, its strings and arrays are allocated once, when the
##   library is loaded, and never freed or changed.
## - *plugin's*: the state is allocated by the SDK (`allocShared0` with ORC, a `ref`
##   kept alive with `GC_ref` with refc) and freed in `release_state`, which the host
##   calls exactly once per successful initialize.

when not compileOption("threads"):
  {.error: "polyplug plugins are called from several host threads: compile with " &
    "--threads:on (and --mm:orc, as `polyplug build` does)".}

# ------------------------------------------------------------------------------------
# The ABI, mirroring polyplug.h. Names are Nim-style; C names in the comments.

const
  AbiVersion* = 1'u32 ## POLYPLUG_ABI_VERSION: the ABI version this module describes.
  StatusOk* = 0'i32 ## PP_OK: a plugin function succeeded.
  StatusError* = 1'i32 ## PP_ERROR: a plugin function failed (message given with `error`).
  KindNull* = 0'u32 ## PP_NULL: no value (Python None).
  KindBool* = 1'u32 ## PP_BOOL: `data.boolean`, 0 false, anything else true.
  KindInt* = 2'u32 ## PP_INT: `data.integer`, signed 64-bit.
  KindFloat* = 3'u32 ## PP_FLOAT: `data.real`, IEEE double.
  KindStr* = 4'u32 ## PP_STR: `data.str`, UTF-8 bytes with a length.
  KindList* = 5'u32 ## PP_LIST: `data.list`, an array of values.
  EntrySymbol* = "polyplug_plugin" ## Name of the exported entry function.

type
  PpStr* {.bycopy.} = object
    ## pp_str: a borrowed string, `len` UTF-8 bytes at `data` (`ptr` in C), not
    ## NUL-terminated; `len == 0` means empty whatever `data` is.
    data*: ptr UncheckedArray[char]
    len*: csize_t

  PpList* {.bycopy.} = object
    ## pp_list: a borrowed array of values.
    items*: ptr UncheckedArray[PpValue]
    len*: csize_t

  PpValueData* {.union, bycopy.} = object
    ## The payload of a `PpValue` (`as` in C); `kind` tells which field is valid.
    boolean*: int32
    integer*: int64
    real*: float64
    str*: PpStr       ## `string` in C
    list*: PpList

  PpValue* {.bycopy.} = object
    ## pp_value: a typed value borrowed from the host (parameter values).
    kind*: uint32
    data*: PpValueData ## `as` in C

  PpParam* {.bycopy.} = object
    ## pp_param: one parameter of the run, borrowed for the call.
    name*: PpStr
    value*: PpValue

  PpParamDef* {.bycopy.} = object
    ## pp_param_def: one PARAMETERS declaration (static strings).
    name*: cstring
    datatype*: cstring
    defaultValue*: cstring ## `default_value` in C
    documentation*: cstring

  PpSink* = object
    ## pp_sink: opaque receiver of what a plugin pushes during one call. Host-owned.

  PpHostApi* {.bycopy.} = object
    ## pp_host_api: callbacks offered by the host. Each copies its arguments before
    ## returning. Call them only from the thread running the plugin function, and only
    ## during that function.
    structSize*: uint32 ## sizeof(pp_host_api) in the host
    pushNull*: proc (sink: ptr PpSink) {.cdecl, gcsafe, raises: [].}
    pushBool*: proc (sink: ptr PpSink, value: int32) {.cdecl, gcsafe, raises: [].}
    pushInt*: proc (sink: ptr PpSink, value: int64) {.cdecl, gcsafe, raises: [].}
    pushFloat*: proc (sink: ptr PpSink, value: float64) {.cdecl, gcsafe, raises: [].}
    pushStr*: proc (sink: ptr PpSink, p: cstring, len: csize_t) {.cdecl, gcsafe, raises: [].}
    beginList*: proc (sink: ptr PpSink) {.cdecl, gcsafe, raises: [].}
    endList*: proc (sink: ptr PpSink) {.cdecl, gcsafe, raises: [].}
    log*: proc (sink: ptr PpSink, p: cstring, len: csize_t) {.cdecl, gcsafe, raises: [].}
    error*: proc (sink: ptr PpSink, p: cstring, len: csize_t) {.cdecl, gcsafe, raises: [].}

  PpBytes* {.bycopy.} = object
    ## pp_bytes: borrowed bytes, `len` at `data` (`ptr` in C), not necessarily UTF-8.
    data*: ptr UncheckedArray[char]
    len*: csize_t

  PpField* {.bycopy.} = object
    ## pp_field: one named field of a record (records mode), borrowed.
    name*: PpStr
    value*: PpStr

  PpCall* {.bycopy.} = object
    ## pp_call: what every plugin function receives, borrowed for the call. The
    ## members after `sink` came later: read them with `hasRecord`, `record` and
    ## `field`, which check `structSize` (an older host passes no record).
    structSize*: uint32 ## sizeof(pp_call) in the host
    params*: ptr UncheckedArray[PpParam]
    nParams*: csize_t
    api*: ptr PpHostApi
    sink*: ptr PpSink
    record*: PpBytes ## records mode: the record's bytes; `data` nil when none
    fields*: ptr UncheckedArray[PpField] ## records mode: its fields
    nFields*: csize_t

  PpInitializeFn* = proc (call: ptr PpCall, stateOut: ptr pointer): int32 {.cdecl.}
    ## pp_initialize_fn
  PpComputeFn* = proc (state: pointer, entity: ptr UncheckedArray[char], len: csize_t,
                       call: ptr PpCall): int32 {.cdecl.}
    ## pp_compute_fn
  PpFinalizeFn* = proc (state: pointer, call: ptr PpCall): int32 {.cdecl.}
    ## pp_finalize_fn
  PpReleaseStateFn* = proc (state: pointer) {.cdecl.}
    ## pp_release_state_fn
  PpComputeIdFn* = proc (unit: ptr UncheckedArray[char], len: csize_t,
                         call: ptr PpCall): int32 {.cdecl.}
    ## pp_compute_id_fn

  PpPlugin* {.bycopy.} = object
    ## pp_plugin: the static descriptor returned by `polyplug_plugin`.
    abiVersion*: uint32
    structSize*: uint32
    id*: cstring
    version*: cstring
    input*: cstring
    output*: ptr UncheckedArray[cstring]
    nOutput*: csize_t
    parameters*: ptr UncheckedArray[PpParamDef]
    nParameters*: csize_t
    methodText*: cstring ## `method` in C
    implementation*: cstring
    reqSoftware*: cstring
    reqHardware*: cstring
    advice*: cstring
    initialize*: PpInitializeFn
    compute*: PpComputeFn
    finalize*: PpFinalizeFn
    releaseState*: PpReleaseStateFn
    computeId*: PpComputeIdFn

when sizeof(pointer) == 8:
  # The sizes polyplug.h documents for LP64 platforms (checked by the host too).
  static:
    doAssert sizeof(PpPlugin) == 144, "PpPlugin does not match pp_plugin"
    doAssert sizeof(PpHostApi) == 80, "PpHostApi does not match pp_host_api"
    doAssert sizeof(PpCall) == 72, "PpCall does not match pp_call"
    doAssert sizeof(PpValue) == 24, "PpValue does not match pp_value"
    doAssert sizeof(PpParam) == 40, "PpParam does not match pp_param"

# ------------------------------------------------------------------------------------
# Values, results and parameters in plain Nim.

type
  ValueKind* = enum
    ## The kind of a `Value`.
    vkNull, vkBool, vkInt, vkFloat, vkStr, vkList

  Value* = object
    ## A typed value: a result of compute, or a parameter value.
    case kind*: ValueKind
    of vkNull: discard
    of vkBool: b*: bool
    of vkInt: i*: int64
    of vkFloat: f*: float64
    of vkStr: s*: string
    of vkList: items*: seq[Value]

  Computed* = object
    ## What compute returns: `results` in OUTPUT order (empty: no result for this
    ## entity) and `logs` (suggested form `key<TAB>message`).
    results*: seq[Value]
    logs*: seq[string]

  Params* = object
    ## The parameters of the run, borrowed from the host for the current call: every
    ## declared parameter with a value (from `--params` or its default), already
    ## converted to its declared datatype. Do not keep it after the call returns.
    call: ptr PpCall

proc nullValue*(): Value = Value(kind: vkNull)
  ## The null value (Python `None`).
proc toValue*(v: Value): Value = v
  ## A value is already a value.
proc toValue*(v: bool): Value = Value(kind: vkBool, b: v)
  ## A boolean value.
proc toValue*(v: SomeInteger): Value = Value(kind: vkInt, i: int64(v))
  ## An integer value.
proc toValue*(v: SomeFloat): Value = Value(kind: vkFloat, f: float64(v))
  ## A float value.
proc toValue*(v: string): Value = Value(kind: vkStr, s: v)
  ## A string value (UTF-8; anything else fails the entity).
proc toValue*[T](v: openArray[T]): Value =
  ## A list value.
  result = Value(kind: vkList)
  for x in v: result.items.add toValue(x)

proc join(parts: seq[string], sep: string): string =
  for i, p in parts:
    if i > 0: result.add sep
    result.add p

proc `$`*(v: Value): string =
  ## The value as Python's `str()` would write it, roughly (for messages).
  case v.kind
  of vkNull: "None"
  of vkBool: (if v.b: "True" else: "False")
  of vkInt: $v.i
  of vkFloat: $v.f
  of vkStr: v.s
  of vkList:
    var parts: seq[string]
    for x in v.items: parts.add(if x.kind == vkStr: "'" & x.s & "'" else: $x)
    "[" & parts.join(", ") & "]"

proc values*(vs: varargs[Value, toValue]): seq[Value] =
  ## Builds a results sequence from values of any supported type:
  ## `result.results = values(size, gc / size)`.
  @vs

proc add*[T](c: var Computed, v: T) =
  ## Appends one result value (bool, integer, float, string, `Value` or an array of
  ## those as a list).
  c.results.add toValue(v)

proc log*(c: var Computed, message: string) =
  ## Adds one log message (suggested form `key<TAB>message`).
  c.logs.add message

proc fromAbi(v: PpValue): Value =
  case v.kind
  of KindBool: Value(kind: vkBool, b: v.data.boolean != 0)
  of KindInt: Value(kind: vkInt, i: v.data.integer)
  of KindFloat: Value(kind: vkFloat, f: v.data.real)
  of KindStr:
    var s = newString(int(v.data.str.len))
    if s.len > 0 and v.data.str.data != nil:
      copyMem(addr s[0], v.data.str.data, s.len)
    Value(kind: vkStr, s: s)
  of KindList:
    var r = Value(kind: vkList)
    if v.data.list.items != nil:
      for i in 0 ..< int(v.data.list.len):
        r.items.add fromAbi(v.data.list.items[i])
    r
  else: Value(kind: vkNull)

proc nameIs(s: PpStr, name: string): bool =
  if int(s.len) != name.len: return false
  for i in 0 ..< name.len:
    if s.data[i] != name[i]: return false
  true

proc find(p: Params, name: string): ptr PpValue =
  if p.call == nil or p.call.params == nil: return nil
  for i in 0 ..< int(p.call.nParams):
    if nameIs(p.call.params[i].name, name):
      return addr p.call.params[i].value
  nil

proc contains*(p: Params, name: string): bool =
  ## Whether parameter `name` has a value.
  p.find(name) != nil

proc `[]`*(p: Params, name: string): Value =
  ## The value of parameter `name`; raises `KeyError` when it has none.
  let v = p.find(name)
  if v == nil: raise newException(KeyError, "no parameter named " & name)
  fromAbi(v[])

proc getInt*(p: Params, name: string, default = 0): int =
  ## The integer parameter `name`, or `default` when absent or not an integer.
  let v = p.find(name)
  if v != nil and v.kind == KindInt: int(v.data.integer) else: default

proc getFloat*(p: Params, name: string, default = 0.0): float =
  ## The number parameter `name` (float or integer), or `default`.
  let v = p.find(name)
  if v == nil: default
  elif v.kind == KindFloat: v.data.real
  elif v.kind == KindInt: float(v.data.integer)
  else: default

proc getBool*(p: Params, name: string, default = false): bool =
  ## The boolean parameter `name`, or `default`.
  let v = p.find(name)
  if v != nil and v.kind == KindBool: v.data.boolean != 0 else: default

proc getStr*(p: Params, name: string, default = ""): string =
  ## The string parameter `name` (copied), or `default`.
  let v = p.find(name)
  if v != nil and v.kind == KindStr: fromAbi(v[]).s else: default

proc hasRecord*(p: Params): bool =
  ## Records mode (`polyplug run ... records <format> <file>...`): whether the entity
  ## being computed is a record.
  p.call != nil and int(p.call.structSize) >= sizeof(PpCall) and
    p.call.record.data != nil

proc record*(p: Params): string =
  ## Records mode: the record's bytes as in its file, without the final line ending
  ## (FASTA: the header line and the sequence lines), copied; "" when the entity is
  ## not a record.
  if not p.hasRecord: return ""
  result = newString(int(p.call.record.len))
  if result.len > 0: copyMem(addr result[0], p.call.record.data, result.len)

proc field*(p: Params, name: string, default = ""): string =
  ## Records mode: the value of the record's field `name` (a CSV/TSV column, a JSONL
  ## member, `sequence` and `description` of FASTA and FASTQ, `quality` of FASTQ),
  ## copied; `default` when it has none.
  if not p.hasRecord or p.call.fields == nil: return default
  for i in 0 ..< int(p.call.nFields):
    if nameIs(p.call.fields[i].name, name):
      let v = p.call.fields[i].value
      result = newString(int(v.len))
      if result.len > 0: copyMem(addr result[0], v.data, result.len)
      return
  default

iterator fields*(p: Params): (string, string) =
  ## Records mode: the record's fields, in order, as (name, value) (copied).
  if p.hasRecord and p.call.fields != nil:
    for i in 0 ..< int(p.call.nFields):
      let f = p.call.fields[i]
      var name = newString(int(f.name.len))
      if name.len > 0: copyMem(addr name[0], f.name.data, name.len)
      var value = newString(int(f.value.len))
      if value.len > 0: copyMem(addr value[0], f.value.data, value.len)
      yield (name, value)

iterator pairs*(p: Params): (string, Value) =
  ## Every parameter with a value, as (name, value).
  if p.call != nil and p.call.params != nil:
    for i in 0 ..< int(p.call.nParams):
      let n = p.call.params[i].name
      var name = newString(int(n.len))
      if name.len > 0: copyMem(addr name[0], n.data, name.len)
      yield (name, fromAbi(p.call.params[i].value))

# ------------------------------------------------------------------------------------
# Boundary glue used by `exportPlugin`. Public because the template expands in the
# plugin's module; not an API: names may change in any release.

{.emit: """
#include <pthread.h>
extern void NimMain(void);
static pthread_once_t polyplug_nim_once = PTHREAD_ONCE_INIT;
__attribute__((visibility("hidden"))) void polyplug_nim_main_once(void) {
    pthread_once(&polyplug_nim_once, NimMain);
}
""".}

proc ppNimMainOnce() {.importc: "polyplug_nim_main_once", cdecl.}

proc ppRuntime*() =
  ## Runs `NimMain` once per process (thread-safe, `pthread_once`): Nim's runtime
  ## set-up and the top-level code of every module, which fills the descriptor.
  ppNimMainOnce()

template ppEnter*() =
  ## At every entry point: with the refc GC, register the host thread and its stack.
  when not defined(gcDestructors):
    setupForeignThreadGc()
    var stackBottom {.volatile.}: pointer
    nimGC_setStackBottom(addr stackBottom)

proc ppStatic*(s: string): cstring =
  ## A NUL-terminated copy of `s` that is never freed (descriptor strings).
  result = cast[cstring](allocShared0(s.len + 1))
  if s.len > 0: copyMem(result, cstring(s), s.len)

proc ppEmitStr(fn: proc (sink: ptr PpSink, p: cstring, len: csize_t) {.cdecl, gcsafe,
               raises: [].}, call: ptr PpCall, s: string) =
  fn(call.sink, cstring(s), csize_t(s.len))

proc ppPush(call: ptr PpCall, v: Value) =
  let api = call.api
  case v.kind
  of vkNull: api.pushNull(call.sink)
  of vkBool: api.pushBool(call.sink, int32(ord(v.b)))
  of vkInt: api.pushInt(call.sink, v.i)
  of vkFloat: api.pushFloat(call.sink, v.f)
  of vkStr: ppEmitStr(api.pushStr, call, v.s)
  of vkList:
    api.beginList(call.sink)
    for x in v.items: ppPush(call, x)
    api.endList(call.sink)

proc ppEmit*(call: ptr PpCall, c: Computed) =
  ## Pushes the results and logs of a compute to the host.
  for v in c.results: ppPush(call, v)
  for l in c.logs: ppEmitStr(call.api.log, call, l)

proc ppLogs*(call: ptr PpCall, logs: seq[string]) =
  ## Pushes log messages to the host.
  for l in logs: ppEmitStr(call.api.log, call, l)

proc ppFail*(call: ptr PpCall, e: ref Exception): int32 =
  ## Turns an exception into an error for the current call.
  let msg = $e.name & ": " & e.msg
  ppEmitStr(call.api.error, call, msg)
  StatusError

proc ppEntity*(p: ptr UncheckedArray[char], len: csize_t): string =
  ## Copies a borrowed entity into a Nim string.
  result = newString(int(len))
  if len > 0 and p != nil: copyMem(addr result[0], p, int(len))

var ppEntityBuffer* {.threadvar.}: string
  ## Each host thread's copy of the current entity: reused, so a compute allocates
  ## no entity string (the plugin receives it as an immutable parameter).

proc ppEntityInto*(buffer: var string, p: ptr UncheckedArray[char], len: csize_t) =
  ## Copies a borrowed entity into `buffer`.
  buffer.setLen(int(len))
  if len > 0 and p != nil: copyMem(addr buffer[0], p, int(len))

proc ppParams*(call: ptr PpCall): Params = Params(call: call)
  ## The parameters of a call.

when defined(gcDestructors):
  proc ppNewState*[T](): ptr T =
    ## A zeroed state box, freed with `ppFreeState`.
    cast[ptr T](allocShared0(sizeof(T)))
  proc ppFreeState*[T](p: ptr T) =
    ## Destroys and frees a state box.
    if p != nil:
      reset(p[])
      deallocShared(p)
else:
  proc ppNewState*[T](): ptr T =
    ## A state kept alive by `GC_ref` (refc: GC'd fields must stay visible to the GC).
    var r: ref T
    new(r)
    GC_ref(r)
    cast[ptr T](r)
  proc ppFreeState*[T](p: ptr T) =
    ## Releases a state made by `ppNewState`.
    if p != nil:
      GC_unref(cast[ref T](p))

type PpNoState* = object
  ## The state of a plugin exported with `exportPlugin()`.

template exportPlugin*(State: typedesc) =
  ## Exports the plugin defined by this module's constants and functions (see the
  ## module documentation) as the C symbol `polyplug_plugin`. Call it once, at the end
  ## of the module, with the state type (or with no argument for a stateless plugin).
  var ppDescriptor: PpPlugin
  ppDescriptor.abiVersion = AbiVersion
  ppDescriptor.structSize = uint32(sizeof(PpPlugin))
  ppDescriptor.id = ppStatic(ID)
  ppDescriptor.version = ppStatic(VERSION)
  ppDescriptor.input = ppStatic(INPUT)
  block:
    let outs = cast[ptr UncheckedArray[cstring]](allocShared0(
      sizeof(cstring) * max(1, OUTPUT.len)))
    for i, o in OUTPUT: outs[i] = ppStatic(o)
    ppDescriptor.output = outs
    ppDescriptor.nOutput = csize_t(OUTPUT.len)
  when declared(PARAMETERS):
    block:
      let defs = cast[ptr UncheckedArray[PpParamDef]](allocShared0(
        sizeof(PpParamDef) * max(1, PARAMETERS.len)))
      for i, p in PARAMETERS:
        defs[i] = PpParamDef(name: ppStatic(p[0]), datatype: ppStatic(p[1]),
                             defaultValue: ppStatic(p[2]),
                             documentation: ppStatic(p[3]))
      ppDescriptor.parameters = defs
      ppDescriptor.nParameters = csize_t(PARAMETERS.len)
  when declared(METHOD): ppDescriptor.methodText = ppStatic(METHOD)
  when declared(IMPLEMENTATION):
    ppDescriptor.implementation = ppStatic(IMPLEMENTATION)
  when declared(REQ_SOFTWARE): ppDescriptor.reqSoftware = ppStatic(REQ_SOFTWARE)
  when declared(REQ_HARDWARE): ppDescriptor.reqHardware = ppStatic(REQ_HARDWARE)
  when declared(ADVICE): ppDescriptor.advice = ppStatic(ADVICE)

  proc ppInitializeC(call: ptr PpCall, stateOut: ptr pointer): int32 {.cdecl,
      raises: [].} =
    ppEnter()
    var s: ptr State = nil
    try:
      s = ppNewState[State]()
      when State isnot PpNoState and declared(initialize):
        s[] = initialize(ppParams(call))
      stateOut[] = s
      StatusOk
    except Exception as e:
      ppFreeState(s)
      ppFail(call, e)

  proc ppComputeC(state: pointer, entity: ptr UncheckedArray[char], len: csize_t,
                  call: ptr PpCall): int32 {.cdecl, raises: [].} =
    ppEnter()
    try:
      ppEntityInto(ppEntityBuffer, entity, len)
      when State is PpNoState:
        let c = compute(ppEntityBuffer, ppParams(call))
      else:
        let c = compute(cast[ptr State](state)[], ppEntityBuffer, ppParams(call))
      ppEmit(call, c)
      StatusOk
    except Exception as e:
      ppFail(call, e)

  proc ppFinalizeC(state: pointer, call: ptr PpCall): int32 {.cdecl, raises: [].} =
    ppEnter()
    try:
      when State isnot PpNoState and declared(finalize):
        ppLogs(call, finalize(cast[ptr State](state)[], ppParams(call)))
      StatusOk
    except Exception as e:
      ppFail(call, e)

  proc ppReleaseC(state: pointer) {.cdecl, raises: [].} =
    ppEnter()
    try:
      ppFreeState(cast[ptr State](state))
    except Exception:
      discard

  ppDescriptor.initialize = ppInitializeC
  ppDescriptor.compute = ppComputeC
  ppDescriptor.finalize = ppFinalizeC
  ppDescriptor.releaseState = ppReleaseC

  when declared(computeId):
    proc ppComputeIdC(unit: ptr UncheckedArray[char], len: csize_t,
                      call: ptr PpCall): int32 {.cdecl, raises: [].} =
      ppEnter()
      try:
        let id: string = computeId(ppEntity(unit, len))
        ppPush(call, toValue(id))
        StatusOk
      except Exception as e:
        ppFail(call, e)
    ppDescriptor.computeId = ppComputeIdC

  proc polyplug_plugin(): ptr PpPlugin {.exportc: "polyplug_plugin", dynlib,
      cdecl.} =
    ## The entry symbol: sets Nim's runtime up once, then returns the descriptor.
    ppRuntime()
    addr ppDescriptor

template exportPlugin*() =
  ## Exports a stateless plugin: `compute(entity: string, params: Params): Computed`.
  exportPlugin(PpNoState)
