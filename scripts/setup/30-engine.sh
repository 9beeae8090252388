#!/usr/bin/env bash
# The Pulumi engine for machines that cannot download it: the `pulumi` CLI, the Node.js
# language host, the command provider, and actionlint for the CI workflow, all built from Go
# modules pinned under scripts/engine/ and linked into one stable directory that tests and
# scripts/preview.sh put first on PATH. Users with the official CLI installed keep theirs: a
# tool already on PATH is linked instead of built.
#
#   bash scripts/setup/30-engine.sh        # idempotent; seconds once built
#   MEGAWEB_CACHE=/somewhere bash ...      # cache root, default /var/cache/megaweb
#
# Binaries and Go caches live outside the repo, keyed by CLI version and by a hash of each
# wrapper module, so a fresh clone on the same machine reuses them and an edited wrapper rebuilds.
set -euo pipefail
cd "$(dirname "$0")/../.."

cache="${MEGAWEB_CACHE:-/var/cache/megaweb}"
bin="$cache/bin"
modules=scripts/engine

command -v go >/dev/null || PATH="/usr/local/go/bin:$PATH"
if ! command -v go >/dev/null; then
  echo "engine: Go is needed to build the Pulumi engine here (or install the official Pulumi CLI)" >&2
  exit 1
fi

cli_version="$(awk '$1 == "github.com/pulumi/pulumi/pkg/v3" { print $2 }' "$modules/pulumi/go.mod")"
if [ -z "$cli_version" ]; then
  echo "engine: $modules/pulumi/go.mod does not require github.com/pulumi/pulumi/pkg/v3" >&2
  exit 1
fi
versioned="$cache/engine/${cli_version#v}"
export GOMODCACHE="$versioned/gomod" GOCACHE="$versioned/gocache" GOFLAGS=-modcacherw GOTOOLCHAIN=local
mkdir -p "$bin" "$versioned"

# on_path NAME: the NAME on PATH that is not one of our own links, if any.
on_path() {
  PATH="$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$bin" | paste -sd:)" command -v "$1" || true
}

# provide NAME MODULE_DIR PACKAGE [LDFLAGS]: link NAME into $bin, built from MODULE_DIR unless on PATH.
provide() {
  local name="$1" dir="$2" package="$3" ldflags="${4:-}"
  local existing
  existing="$(on_path "$name")"
  if [ -n "$existing" ]; then
    ln -sfn "$existing" "$bin/$name"
    echo "engine: $name from PATH ($existing)"
    return
  fi
  local key
  key="$(find "$dir" -maxdepth 1 -type f \( -name 'go.*' -o -name '*.go' \) | sort | xargs cat | sha256sum | cut -c1-12)"
  local out="$versioned/bin/$name-$key"
  if [ ! -x "$out" ]; then
    local hint=""
    [ "$name" != pulumi ] || hint=" (8 to 20 minutes on 2 cores)"
    echo "engine: building $name from Go modules$hint"
    local started=$SECONDS
    if ! (cd "$dir" && nice -n 10 go build -trimpath -ldflags "-s -w $ldflags" -o "$out.$$" "$package"); then
      echo "engine: building $name from $dir failed (Go's error above); installing the official Pulumi CLI also works" >&2
      exit 1
    fi
    mv "$out.$$" "$out"
    echo "engine: built $name in $((SECONDS - started))s"
  fi
  # The engine takes a language host that sits next to its own (resolved) executable as
  # bundled, and only warns about one found elsewhere on PATH: so each tool also gets its plain
  # name beside the CLI, and the stable link points at that name.
  ln -f "$out" "$versioned/bin/$name"
  ln -sfn "$versioned/bin/$name" "$bin/$name"
  find "$versioned/bin" -maxdepth 1 -name "$name-????????????" ! -name "${out##*/}" -delete
}

provide pulumi "$modules/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
  "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$cli_version"
provide pulumi-language-nodejs "$modules/language-nodejs" . "-X main.version=${cli_version#v}"
provide pulumi-resource-command "$modules/command-provider" .
provide actionlint "$modules/actionlint" github.com/rhysd/actionlint/cmd/actionlint

version="$(PULUMI_SKIP_UPDATE_CHECK=true "$bin/pulumi" version)"
echo "engine: pulumi $version, language host, command provider and actionlint in $bin"
