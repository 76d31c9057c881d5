#!/usr/bin/env bash
# Builds the pinned kube-apiserver and kube-controller-manager that
# internal/kubetest runs, into a cache outside the source tree:
#
#   ${JOBWQ_CACHE:-$HOME/.cache/jobwq}/kube-<version>/
#
# <version> is the k8s.io/kubernetes requirement in tools/kube/go.mod, so a
# pin change builds into a new directory and never reuses stale binaries.
# When the binaries are there this finishes in well under a second; a cold
# build through the module proxy takes about 9 minutes on 2 cores.
#
# etcd comes from Debian's etcd-server package: installed here when it is
# missing and we run as root, otherwise we say what to install.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
go=${GO:-go}

version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$here/go.mod")
if [ -z "$version" ]; then
  echo "kube-tools: no k8s.io/kubernetes requirement in $here/go.mod" >&2
  exit 2
fi
major=${version#v}; major=${major%%.*}
minor=${version#v*.}; minor=${minor%%.*}

dir=${JOBWQ_CACHE:-$HOME/.cache/jobwq}/kube-$version

# Without these the servers report v0.0.0-master, which kubectl and the
# version-gated API behaviour would see instead of the pinned release.
pkg=k8s.io/component-base/version
ldflags="-X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"

# The stamp records how the binaries were built; anything else there (a
# half-finished build, different flags) is rebuilt.
stamp="$version $ldflags"

build() {
  local name=$1
  if [ -x "$dir/$name" ] && [ "$(cat "$dir/$name.stamp" 2>/dev/null)" = "$stamp" ]; then
    return
  fi
  echo "kube-tools: building $name $version (about 9 minutes on 2 cores when the Go cache is cold)"
  local start=$SECONDS
  mkdir -p "$dir"
  # Build beside the target and rename, so an interrupted build never
  # leaves a binary that looks finished.
  (cd "$here" && "$go" build -ldflags "$ldflags" -o "$dir/$name.tmp" "k8s.io/kubernetes/cmd/$name")
  mv -f "$dir/$name.tmp" "$dir/$name"
  printf '%s\n' "$stamp" >"$dir/$name.stamp"
  echo "kube-tools: built $name in $((SECONDS - start))s"
}

build kube-apiserver
build kube-controller-manager

if ! command -v etcd >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "kube-tools: installing etcd-server"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null
  else
    echo "kube-tools: etcd is missing: install Debian's etcd-server (apt-get install etcd-server) or put an etcd 3.4+ on PATH" >&2
    exit 1
  fi
fi

echo "kube-tools: $dir/kube-apiserver ($("$dir/kube-apiserver" --version))"
echo "kube-tools: $dir/kube-controller-manager"
echo "kube-tools: $(command -v etcd) ($(etcd --version | head -n 1))"
