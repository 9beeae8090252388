#!/usr/bin/env bash
# The Pulumi engine for machines that cannot download it: the `pulumi` CLI, the upstream Node.js
# language host, the upstream command and DigitalOcean providers, and actionlint for the CI
# workflow, linked into one stable directory that tests and scripts put first on PATH. Users with
# the official CLI and plugins installed keep theirs: a tool already on PATH is linked, not built.
#
#   bash scripts/setup/30-engine.sh        # idempotent; under a second once built
#   MEGAWEB_CACHE=/somewhere bash ...      # cache root, default /var/cache/megaweb
#   MEGAWEB_UPSTREAM=/path bash ...        # upstream sources, default ../shared/upstream
#
# The CLI and actionlint come from the small wrapper modules under scripts/engine/ (the Go module
# proxy serves their modules). The language host and the two providers are not served as modules,
# so they are built from a copy of the unmodified upstream sources in $MEGAWEB_UPSTREAM (see its
# SOURCES.md), their dependencies from the module proxy. Binaries live outside the repo, keyed by
# a hash of what they are built from, so a fresh clone on the same machine reuses them.
set -euo pipefail
cd "$(dirname "$0")/../.."

cache="${MEGAWEB_CACHE:-/var/cache/megaweb}"
upstream="${MEGAWEB_UPSTREAM:-$PWD/../shared/upstream}"
bin="$cache/bin"
modules=scripts/engine

command -v go >/dev/null || PATH="/usr/local/go/bin:$PATH"

cli_version="$(awk '$1 == "github.com/pulumi/pulumi/pkg/v3" { print $2 }' "$modules/pulumi/go.mod")"
if [ -z "$cli_version" ]; then
  echo "engine: $modules/pulumi/go.mod does not require github.com/pulumi/pulumi/pkg/v3" >&2
  exit 1
fi
language_host_version=v3.259.0
command_version=1.2.1
digitalocean_version=4.76.0

# One module and build cache for every tool: the CLI, the language host and the providers share
# most of their dependencies (pulumi/pkg, pulumi/sdk, grpc, cloud SDKs).
# GOSUMDB is off because the checksum database is out of reach here; every go.sum still verifies
# what is downloaded, and a module missing from go.sum fails the build.
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOTOOLCHAIN=local GOSUMDB=off \
  GOFLAGS="-modcacherw -buildvcs=false"
mkdir -p "$bin" "$cache/tools"

# on_path NAME: the NAME on PATH that is not one of our own links, if any.
on_path() {
  PATH="$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$bin" | paste -sd:)" command -v "$1" || true
}

# source_key DIR: a short hash of a source tree's content, so an edited tree rebuilds.
source_key() {
  (cd "$1" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' -o -name '*.json' \) -print0 |
    sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
}

# provide NAME MODULE_DIR PACKAGE LDFLAGS: link NAME into $bin, built from MODULE_DIR unless on PATH.
provide() {
  local name="$1" dir="$2" package="$3" ldflags="$4"
  local existing
  existing="$(on_path "$name")"
  if [ -n "$existing" ]; then
    ln -sfn "$existing" "$bin/$name"
    echo "engine: $name from PATH ($existing)"
    return
  fi
  if ! command -v go >/dev/null; then
    echo "engine: Go is needed to build $name here (or install the official Pulumi CLI and plugins)" >&2
    exit 1
  fi
  local key
  key="$(printf '%s\n%s\n%s\n' "$(source_key "$dir")" "$package" "$ldflags" | sha256sum | cut -c1-12)"
  local out="$cache/tools/$name-$key"
  if [ ! -x "$out" ]; then
    echo "engine: building $name from $dir"
    local started=$SECONDS
    if ! (cd "$dir" && nice -n 10 go build -trimpath -ldflags "-s -w $ldflags" -o "$out.$$" "$package"); then
      echo "engine: building $name from $dir failed (Go's error above)" >&2
      exit 1
    fi
    mv "$out.$$" "$out"
    echo "engine: built $name in $((SECONDS - started))s"
  fi
  # The engine takes a language host that sits next to its own (resolved) executable as
  # bundled, and only warns about one found elsewhere on PATH: so each tool gets its plain name
  # in one directory beside the CLI, and the stable link points at that name.
  ln -f "$out" "$cache/tools/$name"
  ln -sfn "$cache/tools/$name" "$bin/$name"
  find "$cache/tools" -maxdepth 1 -name "$name-????????????" ! -name "${out##*/}" -delete
}

# upstream_copy NAME: a private copy of $upstream/NAME under the cache, refreshed when the source
# changes. The DigitalOcean provider's go.mod replaces into ../upstream, so the whole folder is
# copied, not only the Go module.
upstream_copy() {
  local name="$1"
  if [ ! -d "$upstream/$name" ]; then
    echo "engine: $upstream/$name is missing (set MEGAWEB_UPSTREAM to the folder holding SOURCES.md)" >&2
    exit 1
  fi
  local copy="$cache/src/$name"
  if [ ! -f "$copy/.megaweb-key" ] || [ "$(cat "$copy/.megaweb-key")" != "$(source_key "$upstream/$name")" ]; then
    rm -rf "$copy" "$copy.$$"
    mkdir -p "$cache/src"
    cp -a "$upstream/$name" "$copy.$$"
    source_key "$upstream/$name" >"$copy.$$/.megaweb-key"
    mv "$copy.$$" "$copy"
  fi
  printf '%s\n' "$copy"
}

provide pulumi "$modules/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
  "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$cli_version"
provide actionlint "$modules/actionlint" github.com/rhysd/actionlint/cmd/actionlint ""

[ -n "$(on_path pulumi-language-nodejs)" ] || language_host="$(upstream_copy "pulumi-language-nodejs-$language_host_version")"
provide pulumi-language-nodejs "${language_host:-}" . \
  "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$language_host_version"

[ -n "$(on_path pulumi-resource-command)" ] || command_provider="$(upstream_copy "pulumi-command-v$command_version")/provider"
provide pulumi-resource-command "${command_provider:-}" ./cmd/pulumi-resource-command \
  "-X github.com/pulumi/pulumi-command/provider/pkg/version.Version=$command_version"

[ -n "$(on_path pulumi-resource-digitalocean)" ] || digitalocean_provider="$(upstream_copy "pulumi-digitalocean-v$digitalocean_version")/provider"
provide pulumi-resource-digitalocean "${digitalocean_provider:-}" ./cmd/pulumi-resource-digitalocean \
  "-X github.com/pulumi/pulumi-digitalocean/provider/v4/pkg/version.Version=$digitalocean_version"

version="$(PULUMI_SKIP_UPDATE_CHECK=true "$bin/pulumi" version)"
echo "engine: pulumi $version, the upstream language host, command $command_version and digitalocean $digitalocean_version providers, actionlint in $bin"
