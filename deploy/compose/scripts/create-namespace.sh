#!/bin/sh
# Creates meshflow's namespace and the search attributes its workflows set
# (refresh.SearchAttributes); safe to run again.
set -eu
ns="${NAMESPACE:-meshflow}"
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do sleep 2; done
temporal operator namespace describe --address "$TEMPORAL_ADDRESS" -n "$ns" >/dev/null 2>&1 ||
  temporal operator namespace create --address "$TEMPORAL_ADDRESS" -n "$ns" --retention 30d
for attr in MeshDomain MeshProduct MeshStage MeshVersion; do
  temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" -n "$ns" --name "$attr" --type Keyword 2>/dev/null || true
done
