#!/usr/bin/env bash
# `npm run preview -- <stack> [pulumi preview flags]`: the planned changes of
# stacks/Pulumi.<stack>.yaml as a diff, on a local file backend in .pulumi-state/ (git-ignored).
# A path to a stack file anywhere (e.g. the demo's .megaweb/local/Pulumi.local.yaml) works too.
#
# MEGAWEB_PREVIEW_STATE moves the backend elsewhere (the tests use it).
#
# Secrets are encrypted with PULUMI_CONFIG_PASSPHRASE. Without one, outside CI, a fixed
# passphrase labelled local-only is used so a first preview needs no set-up.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${1:-}"
if [ -z "$target" ]; then
  stacks="$(find stacks -maxdepth 1 -name 'Pulumi.*.yaml' | sed 's|.*/Pulumi\.\(.*\)\.yaml|\1|' | sort | paste -sd' ')"
  echo "usage: npm run preview -- <stack | path/to/Pulumi.<stack>.yaml>   (stacks: ${stacks:-none})" >&2
  exit 2
fi
shift
if [ -f "$target" ]; then
  stack_file="$target"
  stack="$(basename "$target" | sed -n 's/^Pulumi\.\(.*\)\.yaml$/\1/p')"
else
  stack="$target"
  stack_file="stacks/Pulumi.$stack.yaml"
fi
if [ -z "$stack" ] || [ ! -f "$stack_file" ]; then
  echo "preview: no stack file $stack_file (a stack file is named Pulumi.<stack>.yaml)" >&2
  exit 2
fi

export PATH="${MEGAWEB_CACHE:-/var/cache/megaweb}/bin:$PATH"
command -v pulumi >/dev/null || bash scripts/setup/30-engine.sh

state="${MEGAWEB_PREVIEW_STATE:-$PWD/.pulumi-state}"
export PULUMI_BACKEND_URL="file://$state"
export PULUMI_SKIP_UPDATE_CHECK=true
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  if [ "${CI:-}" = true ]; then
    echo "preview: set PULUMI_CONFIG_PASSPHRASE in CI; the local-only default is for workstations" >&2
    exit 2
  fi
  export PULUMI_CONFIG_PASSPHRASE="megaweb-local-only-not-a-secret"
  echo "preview: PULUMI_CONFIG_PASSPHRASE is not set; using the local-only default passphrase" >&2
fi

# A preview asks DigitalOcean nothing, but the provider will not start without a token.
if [ -z "${DIGITALOCEAN_TOKEN:-}" ] && ! grep -Eq '^ *megaweb:target: *existing' "$stack_file"; then
  export DIGITALOCEAN_TOKEN=dop_v1_preview_only
  echo "preview: DIGITALOCEAN_TOKEN is not set; the preview runs offline with a placeholder (pulumi up needs a real token)" >&2
fi

if grep -q '^secretsprovider:' "$stack_file"; then
  echo "preview: $stack_file uses its own secrets provider; preview it with its own backend (pulumi preview --diff)" >&2
  exit 2
fi

# Creating a passphrase stack writes its salt into the stack file. Committed stack files stay
# as they are: the stack is created from a scratch project whose stack files live in the state
# directory, and the preview reads the given stack file plus that salt. A salt already in the
# given file wins, as its secure values were encrypted with it.
project="$(sed -n 's/^name:[[:space:]]*//p' Pulumi.yaml)"
mkdir -p "$state/project" "$state/stacks"
printf 'name: %s\nruntime: nodejs\nstackConfigDir: ../stacks\n' "$project" > "$state/project/Pulumi.yaml"
seed="$state/stacks/Pulumi.$stack.yaml"
if grep -q '^encryptionsalt:' "$stack_file"; then
  grep '^encryptionsalt:' "$stack_file" > "$seed"
fi
pulumi stack select --create --non-interactive --cwd "$state/project" "$stack"
config="$state/stacks/Pulumi.$stack.preview.yaml"
# shellcheck disable=SC1003 # sed's `$a\` appends a final newline when the file lacks one
{ sed -e '/^encryptionsalt:/d' -e '$a\' "$stack_file"; grep '^encryptionsalt:' "$seed"; } > "$config"

exec pulumi preview --diff --non-interactive --stack "$stack" --config-file "$config" "$@"
