## {{name}}: a polyplug plugin in Nim, one file that polyplug compiles on first use.
##
## For every ID it returns the length of the ID and its number of G and C letters.
## IDs shorter than the parameter min_length give no result and a log message. Each
## worker keeps a count of what it computed in its state and logs it in finalize. An
## exception fails that entity only. The SDK (`polyplug.nim`) is embedded in polyplug.
##
## Run it (in this folder):
##     polyplug run {{name}}.nim ids ids.txt
import polyplug

const
  ID* = "{{name}}"
  VERSION* = "0.1.0"
  INPUT* = "any ID (one line of the IDs file)"
  OUTPUT* = ["length", "gc_count"]
  PARAMETERS* = [("min_length", "int", "0", "IDs shorter than this give no result")]
  METHOD* = "length: number of bytes of the ID; gc_count: number of G and C letters"
  IMPLEMENTATION* = "Nim, polyplug.nim"

type State = object
  ## One worker's state.
  computed: int

proc initialize(params: Params): State =
  State(computed: 0)

proc compute(state: var State, entity: string, params: Params): Computed =
  let minLength = params.getInt("min_length", 0)
  if entity.len < minLength:
    # No value: no result for this entity; the log is kept.
    result.log "length\t" & $entity.len & " characters, below min_length " & $minLength
    return
  var gc = 0
  for c in entity:
    if c in {'G', 'C', 'g', 'c'}: inc gc
  result.add entity.len # values in OUTPUT order
  result.add gc
  inc state.computed

proc finalize(state: var State, params: Params): seq[string] =
  @["computed " & $state.computed & " entities"]

exportPlugin(State)
