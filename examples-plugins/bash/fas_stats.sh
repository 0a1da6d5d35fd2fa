# fas_stats in Bash: genome size and GC content of a FASTA file.
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
  print n, g, f
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
  local counts size gc fraction
  counts=$(LC_ALL=C awk "$_fas_stats_awk" "$entity") || return 1
  read -r size gc fraction <<< "$counts"
  if [[ -n $state ]]; then echo "$size" >> "$state"; fi
  if (( size == 0 )); then
    printf '\n%s\t%s\n' genome_size "no sequence letters in the file"
  elif (( size < min_length )); then
    printf '\n%s\t%s\n' genome_size "$size letters, below min_length $min_length"
  else
    printf '%s\t%s\n' "$size" "$fraction"
  fi
}

finalize() {
  local state=$1 files=0 letters=0 n
  if [[ -f $state ]]; then
    while read -r n; do
      files=$((files + 1))
      letters=$((letters + n))
    done < "$state"
    rm -f -- "$state"
  fi
  echo "processed $files files, $letters sequence letters"
}
