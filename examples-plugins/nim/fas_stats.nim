## fas_stats in Nim: genome size and GC content of a FASTA file, or of one FASTA
## record (records mode: `params.record`).
##
## Shows a stateful plugin with the Nim SDK (plugin-sdk/nim/polyplug.nim): the state is a
## plain Nim object holding a read buffer that every compute of the worker reuses,
## compute reads one file per entity and returns typed results and logs, finalize logs
## what the worker did, and an unreadable file raises an IOError that fails that entity
## only. The same plugin exists in every language under examples-plugins/, with
## identical output rows.
##
## Run it as it is: polyplug compiles a .nim plugin on first use and caches the library
## (from the repository root):
##
##   polyplug run examples-plugins/nim/fas_stats.nim files 'examples-plugins/data/*.fas'
##
## or compile it ahead of time with `polyplug build examples-plugins/nim/fas_stats.nim`.
import polyplug

const
  ID* = "fas_stats_nim"
  VERSION* = "1.0"
  INPUT* = "path of a FASTA file (one genome, one or more records)"
  OUTPUT* = ["genome_size", "GC_content"]
  PARAMETERS* = [
    ("min_length", "int", "0",
     "genomes with fewer sequence letters than this give no result")]
  METHOD* = "genome_size counts the letters of all sequence lines (header lines " &
    "starting with '>' and whitespace excluded); GC_content is the number of G and " &
    "C letters (case-insensitive) divided by genome_size"
  IMPLEMENTATION* = "Nim, polyplug.nim"

type FasStats = object
  buffer: string ## reused for every file, so a worker allocates once
  files: int
  records: int
  letters: int

proc initialize(params: Params): FasStats =
  FasStats(buffer: newStringOfCap(1 shl 16))

proc readInto(path: string, buffer: var string) =
  ## Reads the whole file at `path` into `buffer`; raises IOError naming the file.
  var f: File
  if not open(f, path, fmRead):
    raise newException(IOError, "cannot read " & path)
  defer: close(f)
  let size = getFileSize(f)
  buffer.setLen(int(size))
  if size > 0 and readBuffer(f, addr buffer[0], int(size)) != int(size):
    raise newException(IOError, "cannot read " & path & " to the end")

proc count(data: string): (int, int) =
  ## Sequence letters and G/C letters, skipping header lines and whitespace.
  var size, gc = 0
  var atLineStart = true
  var inHeader = false
  for b in data:
    if atLineStart: inHeader = b == '>'
    atLineStart = b == '\n'
    if inHeader or b in {' ', '\t', '\n', '\r', '\v', '\f'}: continue
    inc size
    if b in {'G', 'C', 'g', 'c'}: inc gc
  (size, gc)

proc compute(state: var FasStats, entity: string, params: Params): Computed =
  var what = "file"
  if params.hasRecord:
    # Records mode: the record's header line and sequence lines.
    state.buffer = params.record
    inc state.records
    what = "record"
  else:
    readInto(entity, state.buffer)
    inc state.files
  let (size, gc) = count(state.buffer)
  state.letters += size
  let minLength = params.getInt("min_length", 0)
  if size == 0:
    result.log "genome_size\tno sequence letters in the " & what
  elif size < minLength:
    result.log "genome_size\t" & $size & " letters, below min_length " & $minLength
  else:
    result.add size
    result.add gc / size

proc finalize(state: var FasStats, params: Params): seq[string] =
  if state.records > 0 and state.files == 0:
    @["processed " & $state.records & " records, " & $state.letters & " sequence letters"]
  else:
    @["processed " & $state.files & " files, " & $state.letters & " sequence letters"]

exportPlugin(FasStats)
