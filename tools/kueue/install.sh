#!/usr/bin/env bash
# Builds the Kueue controller manager that internal/e2e runs out of cluster
# beside its node, and keeps the manifests that go with it, in a cache
# outside the source tree:
#
#   ${JOBWQ_CACHE:-$HOME/.cache/jobwq}/kueue-<version>/
#     kueue                          sigs.k8s.io/kueue/cmd/kueue
#     config/crd/*.yaml              the CRDs (config/components/crd/bases)
#     config/webhook/manifests.yaml  the webhook configurations
#
# Both come from the same module version, through the Go module proxy: the
# binary with `go install` from outside any module (so Kueue's own go.mod
# chooses every dependency), the manifests from the module's source that
# the install downloaded. Kueue v0.17.0's go.mod asks for go 1.25.0, which
# the machines' Go 1.26 with GOTOOLCHAIN=local builds.
#
# When the build is there this finishes in well under a second; a cold one
# (empty Go build and module caches) takes minutes on 2 cores (see the
# README's Kueue section for the measured time).
set -euo pipefail

go=${GO:-go}
module=sigs.k8s.io/kueue
version=v0.17.0
dir=${JOBWQ_CACHE:-$HOME/.cache/jobwq}/kueue-$version

# The stamp records how the build was made; anything else there (a
# half-finished build, another version) is rebuilt.
stamp="$module/cmd/kueue@$version crd webhook"

fresh() {
  [ -x "$dir/kueue" ] && [ "$(cat "$dir/kueue.stamp" 2>/dev/null)" = "$stamp" ]
}

if ! fresh; then
  mkdir -p "$dir"
  # Two runs at once (two worktrees, CI beside a developer) would write the
  # same files: the second waits, then finds the build done.
  exec {lock}>"$dir/kueue.lock"
  flock "$lock"
  if ! fresh; then
    echo "kueue: building $module/cmd/kueue $version (minutes on 2 cores when the Go cache is cold)"
    start=$SECONDS
    tmp="$dir/.build"
    rm -rf "$tmp"
    mkdir -p "$tmp/config/crd" "$tmp/config/webhook"
    (cd / && GOBIN="$tmp/bin" GOFLAGS=-mod=mod "$go" install "$module/cmd/kueue@$version")
    src=$(cd / && "$go" mod download -json "$module@$version" | awk -F'"' '$2 == "Dir" { print $4 }')
    if [ -z "$src" ] || [ ! -d "$src/config/components/crd/bases" ]; then
      echo "kueue: no source of $module@$version in the module cache (go mod download gave '$src')" >&2
      exit 1
    fi
    cp "$src"/config/components/crd/bases/*.yaml "$tmp/config/crd/"
    cp "$src/config/components/webhook/manifests.yaml" "$tmp/config/webhook/"
    chmod -R u+w "$tmp/config"
    # Built beside the target and moved, so an interrupted build never
    # leaves a binary that looks finished.
    rm -rf "$dir/config"
    mv "$tmp/config" "$dir/config"
    mv -f "$tmp/bin/kueue" "$dir/kueue"
    rm -rf "$tmp"
    printf '%s\n' "$stamp" >"$dir/kueue.stamp"
    echo "kueue: built in $((SECONDS - start))s"
  fi
  exec {lock}>&-
fi
echo "kueue: $dir/kueue"
