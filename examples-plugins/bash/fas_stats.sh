# fas_stats in Bash: genome size and GC content of a FASTA file, or of one FASTA record.
#
# In records mode (polyplug run fas_stats.sh records fasta genomes.fa) compute's
# argument is a file holding just the record, so the same compute serves both modes;
# POLYPLUG_RECORD_ID is set then.
#
# Shows a Bash plugin written to the MultiPlug/Prenacs conventions, which polyplug runs
# unchanged: constants are shell variables, compute prints its result line (values
# separated by TABs) and then its log lines, and a state file made by initialize is
# updated by every compute and summarised by finalize. The counting is one awk call per
# file. The same plugin exists in every language under examples-plugins/, with
# identical output rows.
#
#     polyplug run examples-plugins/bash/fas_stats.sh files 'examples-plugins/data/*.fas' \
#         --defs examples-plugins/attribute_definitions.yaml
#
# It also runs under Prenacs: prenacs-batch-compute examples-plugins/bash/fas_stats.sh ...

ID="fas_stats_bash"
VERSION="1.0"
INPUT="path of a FASTA file (one genome, one or more records)"
OUTPUT=( "genome_size" "GC_content" )
PARAMETERS=( "min_length\tint\t0\tgenomes with fewer sequence letters than this give no result" )
METHOD="genome_size counts the letters of all sequence lines (header lines starting with '>' and whitespace excluded); GC_content is the number of G and C letters (case-insensitive) divided by genome_size"
IMPLEMENTATION="Bash and awk, MultiPlug/Prenacs conventions"
REQ_SOFTWARE="bash, awk"

# Counts letters and G/C letters, and prints "<letters> <gc> <gc/letters>" with the
# fraction written as Python writes a float (the shortest text that reads back to the
# same double, with ".0" for whole numbers).
_fas_stats_awk='
/^>/ { next }
{ gsub(/[[:space:]]/, ""); n += length($0); t = $0; g += gsub(/[GCgc]/, "", t) }
END {
  f = "-"
  if (n > 0) {
    x = g / n
    for (p = 1; p <= 17; p++) { f = sprintf("%." p "g", x); if (f + 0 == x) break }
    if (f !~ /[.e]/) f = f ".0"
  }
  print n + 0, g + 0, f
}'

# The state is a file collecting the letters of every file this worker processed.
initialize() {
  local file
  file=$(mktemp "${TMPDIR:-/tmp}/fas_stats_bash.XXXXXX") || return 1
  printf '%s' "$file"
}

compute() {
  local entity=$1; shift
  local min_length=0 state=""
  local kw; for kw in $*; do eval $kw; done
  if [[ ! -f $entity || ! -r $entity ]]; then
    echo "cannot read $entity: no such readable file" >&2
    return 1
  fi
  local counts size gc fraction what=file
  if [[ -v POLYPLUG_RECORD_ID ]]; then what=record; fi
  counts=$(LC_ALL=C awk "$_fas_stats_awk" "$entity") || return 1
  read -r size gc fraction <<< "$counts"
  if [[ -n $state ]]; then echo "$what $size" >> "$state"; fi
  if (( size == 0 )); then
    printf '\n%s\t%s\n' genome_size "no sequence letters in the $what"
  elif (( size < min_length )); then
    printf '\n%s\t%s\n' genome_size "$size letters, below min_length $min_length"
  else
    printf '%s\t%s\n' "$size" "$fraction"
  fi
}

finalize() {
  local state=$1 files=0 records=0 letters=0 what n
  if [[ -f $state ]]; then
    while read -r what n; do
      if [[ $what == record ]]; then records=$((records + 1)); else files=$((files + 1)); fi
      letters=$((letters + n))
    done < "$state"
    rm -f -- "$state"
  fi
  if (( records > 0 && files == 0 )); then
    echo "processed $records records, $letters sequence letters"
  else
    echo "processed $files files, $letters sequence letters"
  fi
}
