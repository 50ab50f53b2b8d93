#!/usr/bin/env bash
# Regenerates docs/quality.md: trains the demo house's four text models on
# WordNet (tbms house build) and records held-out accuracy and service time
# per batch size. Takes about a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
build/tbms house build --out "$out/house"
{
  echo "# Quality and cost of the demo house's models"
  echo
  echo "Produced by \`bench/quality.sh\` ($(date -u +%Y-%m-%d), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'))."
  echo "The task: given a WordNet definition, name its lexicographer category"
  echo "(noun.animal, verb.motion, ...). \`tbms house build\` ranks the house's task \`qa\` by"
  echo "top-1 accuracy, so the order of the candidates follows these figures."
  echo
  cat "$out/house/quality.md"
} > docs/quality.md
echo "wrote docs/quality.md"
