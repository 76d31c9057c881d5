#!/usr/bin/env bash
# Builds the pinned Kubernetes binaries that internal/kubetest and
# internal/e2e run, into a cache outside the source tree:
#
#   ${JOBWQ_CACHE:-$HOME/.cache/jobwq}/kube-<version>/
#
# <version> is the k8s.io/kubernetes requirement in tools/kube/go.mod, so a
# pin change builds into a new directory and never reuses stale binaries.
# When the binaries are there this finishes in well under a second; a cold
# build through the module proxy takes about 9 minutes on 2 cores for the
# API server and controller manager, and about 3 more for the node
# (kubelet, kube-scheduler, kube-proxy), plus about 4 for CoreDNS, which
# comes from its own Go module at $coredns_version.
#
# Arguments name what to build (default: everything); make kube-tools
# builds only the control plane the conformance tests need.
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

# CoreDNS is no part of k8s.io/kubernetes; internal/e2e runs it on the host
# as the cluster's DNS. It is pinned here and stamped like the rest.
coredns_module=github.com/coredns/coredns
coredns_version=v1.14.7

# Without these the servers report v0.0.0-master, which kubectl and the
# version-gated API behaviour would see instead of the pinned release.
pkg=k8s.io/component-base/version
ldflags="-X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"

# The stamp records how the binaries were built; anything else there (a
# half-finished build, different flags) is rebuilt.
stamp="$version $ldflags"

fresh() {
  [ -x "$dir/$1" ] && [ "$(cat "$dir/$1.stamp" 2>/dev/null)" = "$2" ]
}

build() {
  local name=$1
  fresh "$name" "$stamp" && return
  mkdir -p "$dir"
  # Two runs at once (two worktrees, a background build) would write the
  # same .tmp file: the second waits, then finds the binary built.
  exec {lock}>"$dir/$name.lock"
  flock "$lock"
  if ! fresh "$name" "$stamp"; then
    echo "kube-tools: building $name $version (minutes on 2 cores when the Go cache is cold)"
    local start=$SECONDS
    # Build beside the target and rename, so an interrupted build never
    # leaves a binary that looks finished.
    (cd "$here" && "$go" build -ldflags "$ldflags" -o "$dir/$name.tmp" "k8s.io/kubernetes/cmd/$name")
    mv -f "$dir/$name.tmp" "$dir/$name"
    printf '%s\n' "$stamp" >"$dir/$name.stamp"
    echo "kube-tools: built $name in $((SECONDS - start))s"
  fi
  exec {lock}>&-
}

build_coredns() {
  local cstamp="$coredns_module $coredns_version"
  fresh coredns "$cstamp" && return
  mkdir -p "$dir"
  exec {lock}>"$dir/coredns.lock"
  flock "$lock"
  if ! fresh coredns "$cstamp"; then
    echo "kube-tools: building coredns $coredns_version (about 4 minutes on 2 cores when the Go cache is cold)"
    local start=$SECONDS
    # go install from outside any module, so the version is CoreDNS's own
    # go.mod's choice, not tools/kube's.
    rm -rf "$dir/.coredns-build"
    (cd / && GOBIN="$dir/.coredns-build" "$go" install "$coredns_module@$coredns_version")
    mv -f "$dir/.coredns-build/coredns" "$dir/coredns"
    rmdir "$dir/.coredns-build"
    printf '%s\n' "$cstamp" >"$dir/coredns.stamp"
    echo "kube-tools: built coredns in $((SECONDS - start))s"
  fi
  exec {lock}>&-
}

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy coredns)
for name in "${want[@]}"; do
  case $name in
  coredns) build_coredns ;;
  kube-apiserver | kube-controller-manager | kube-scheduler | kubelet | kube-proxy) build "$name" ;;
  *)
    echo "kube-tools: unknown binary $name" >&2
    exit 2
    ;;
  esac
done

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

for name in "${want[@]}"; do
  echo "kube-tools: $dir/$name"
done
echo "kube-tools: $(command -v etcd) ($(etcd --version | head -n 1))"
