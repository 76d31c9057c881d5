#!/usr/bin/env bash
# Installs the YAML language server the editor test of internal/workqueue
# drives, exactly as package-lock.json pins it, into the cache
# ($JOBWQ_CACHE, default ~/.cache/jobwq), in a directory named by the
# lock's digest: seconds once installed, and a new lock gets a new one.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sum=$(sha256sum "$here/package-lock.json" | cut -c1-12)
dir="${JOBWQ_CACHE:-$HOME/.cache/jobwq}/yaml-language-server-$sum"
[ -x "$dir/node_modules/.bin/yaml-language-server" ] && exit 0
command -v npm >/dev/null || { echo "install.sh: npm is required (Debian: apt-get install npm)" >&2; exit 1; }
tmp="$dir.tmp-$$"
rm -rf "$tmp"
mkdir -p "$tmp"
cp "$here/package.json" "$here/package-lock.json" "$tmp/"
npm ci --prefix "$tmp" --no-audit --no-fund --loglevel=error
rm -rf "$dir"
mv "$tmp" "$dir"
echo "installed the YAML language server into $dir"
