#!/bin/bash
# Rendered by megaweb: puts a site's code live on this host without downtime, the way Envoyer and
# Deployer lay a site out:
#   releases/<id>/   one directory per release; id = 12 hex of the code's hash + 6 of the recipe's
#   shared/          what outlives releases (storage, uploads), linked into each one
#   .env             the site's credentials (written by provisioning), linked into each one
#   current          -> releases/<id>, switched with one rename(2)
#   deploy/          history, logs and the git cache; root's, but for the cache
#
#   megaweb-deploy SITE              fetch, build as the site's user, migrate (once per release, on
#                                    one node), switch, reload the site's pool, restart its workers
#   megaweb-deploy SITE --rollback   switch back to the release live before this one (no build)
#   megaweb-deploy SITE --list       the kept releases, newest first; * marks the live one
#
# SITE is the site's slug; its settings are in {{configDir}}/SITE.conf. The same code deploys
# nothing. A failed build or migration leaves the live release serving and exits 1 with the
# command's output, every secret value of the site's .env replaced by [redacted].
set -euo pipefail
umask 027
config_dir={{configDir}}

die() {
  echo "megaweb-deploy: $*" >&2
  exit 1
}
say() { echo "megaweb-deploy: $domain: $*"; }

if [ $# -lt 1 ] || [ $# -gt 2 ]; then die "usage: megaweb-deploy SITE [--rollback|--list]"; fi
site=$1
action=${2:---deploy}
if ! [[ $site =~ ^[a-z0-9_]+$ ]] || [ ! -f "$config_dir/$site.conf" ]; then die "no site ${site@Q} is deployed here (no $config_dir/$site.conf)"; fi
case $action in --deploy | --rollback | --list) ;; *) die "unknown action ${action@Q} (--rollback, --list)" ;; esac
# shellcheck source=/dev/null
. "$config_dir/$site.conf"

releases=$home/releases
shared=$home/shared
state=$home/deploy
history=$state/history
cache=$state/source.git
[ -d "$home" ] || die "$domain: $home does not exist; provision the site first"
cd "$home"

# Only the site's own user builds and runs its code, with a clean environment: nothing of root's
# (or of the step that started this) reaches the site's commands.
as_site() {
  runuser -u "$user" -- env -i HOME="$home" USER="$user" LOGNAME="$user" PATH=/usr/local/bin:/usr/bin:/bin \
    COMPOSER_HOME="$state/composer" COMPOSER_NO_INTERACTION=1 LANG=C.UTF-8 "$@"
}

# Values of the site's .env that must never be printed: every value of a key that names a secret,
# and every other value long enough to be one. Longest first, so a value holding another goes whole.
secret_values=()
load_secrets() {
  local line key value
  [ -f "$home/.env" ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    [[ $line =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=[[:space:]]*(.*)$ ]] || continue
    key=${BASH_REMATCH[2]^^}
    value=${BASH_REMATCH[3]%$'\r'}
    if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then value=${BASH_REMATCH[1]}; fi
    if { [[ $key =~ PASS|SECRET|KEY|TOKEN|AUTH|CREDENTIAL|PRIVATE ]] && [ ${#value} -ge 4 ]; } || [ ${#value} -ge 12 ]; then
      secret_values+=("$value")
    fi
  done <"$home/.env"
  if [ ${#secret_values[@]} -gt 0 ]; then
    mapfile -t secret_values < <(printf '%s\n' "${secret_values[@]}" | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f 2-)
  fi
}

redact() {
  local text value
  text=$(cat)
  for value in "${secret_values[@]}"; do text=${text//"$value"/[redacted]}; done
  printf '%s\n' "$text"
}

env_value() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$home/.env" 2>/dev/null | tail -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'$/\1/"; }

seconds_since() { awk -v start="$1" -v now="$EPOCHREALTIME" 'BEGIN { printf "%.1f", now - start }'; }

# run_logged WHAT COMMAND...: runs COMMAND, keeping its output (redacted) in the release's log.
# On failure the last 60 lines are printed, the release is discarded and the deploy stops.
run_logged() {
  local what=$1 status=0 raw
  shift
  raw=$(mktemp "$state/output.XXXXXX")
  "$@" >"$raw" 2>&1 </dev/null || status=$?
  {
    echo "== $what"
    redact <"$raw"
  } >>"$log"
  if [ "$status" -ne 0 ]; then
    {
      echo "megaweb-deploy: $domain: $what failed (exit $status); release ${live:-none} stays live. Its output, secrets redacted:"
      redact <"$raw" | tail -n 60
    } >&2
    rm -f "$raw"
    discard_release
    exit 1
  fi
  rm -f "$raw"
}

discard_release() {
  if [ -n "${release_dir:-}" ] && [ "$release_dir" != "$(readlink -f "$home/current" 2>/dev/null)" ]; then rm -rf "$release_dir"; fi
}

live_release() { basename "$(readlink "$home/current" 2>/dev/null || echo none)"; }

# Releases by their last time live, newest first; the history has one line per switch.
releases_by_recency() { tac "$history" 2>/dev/null | awk '!seen[$2]++ { print $2 }'; }

list_releases() {
  local id marker line
  live=$(live_release)
  while IFS= read -r id; do
    [ -f "$state/built/$id" ] || continue
    marker=" "
    [ "$id" = "$live" ] && marker="*"
    line=$(grep -F " $id " "$history" | tail -n 1)
    printf '%s %s  %s  %s\n' "$marker" "$id" "$(date -u -d "@${line%% *}" +%Y-%m-%dT%H:%M:%SZ)" "$(cat "$state/built/$id")"
  done < <(releases_by_recency)
}

# The site's layout; re-made on every run, so a deploy never depends on what an earlier one left.
make_layout() {
  install -d -m 0711 -o root -g root "$state"
  install -d -m 0700 -o root -g root "$state/built" "$state/logs"
  install -d -m 0700 -o "$user" -g "$group" "$state/composer"
  # setgid: what the site's user creates in a release belongs to the web server's group, which reads it.
  install -d -m 2750 -o "$user" -g "$web_group" "$releases" "$shared"
  touch "$history"
  # Before the first deploy provisioning may have made current/<public> as a plain, empty webroot.
  if [ -d "$home/current" ] && [ ! -L "$home/current" ]; then
    find "$home/current" -depth -type d -empty -delete
    [ ! -e "$home/current" ] || die "$domain: $home/current is a directory with files, not a release link; move it aside"
  fi
}

fetch_git() {
  if [ ! -d "$cache/objects" ]; then
    install -d -m 0700 -o "$user" -g "$group" "$cache"
    as_site git init --quiet --bare "$cache"
  fi
  run_logged "git fetch of ${ref} from ${repository}" as_site git --git-dir="$cache" fetch --quiet --depth=1 --force --no-tags "$repository" "$ref"
  commit=$(as_site git --git-dir="$cache" rev-parse --verify 'FETCH_HEAD^{commit}')
  source_id=${commit:0:12}
  description="$ref at ${commit:0:12}: $(as_site git --git-dir="$cache" log -1 --format=%s "$commit" | cut -c 1-72)"
}

# shellcheck disable=SC2016 # the inner bash expands them
unpack_git() { as_site bash -c 'git --git-dir="$1" archive --format=tar "$2" | tar -x -C "$3"' unpack "$cache" "$commit" "$release_dir"; }

# The archive is copied where the site's user may read it, whatever the original's permissions.
fetch_archive() {
  archive_file=$state/archive
  if [[ $archive == http://* || $archive == https://* ]]; then
    run_logged "download of $archive" curl --fail --silent --show-error --location --max-time 600 --output "$archive_file.part" "$archive"
  else
    [ -f "$archive" ] || die "$domain: the archive $archive does not exist"
    cp "$archive" "$archive_file.part"
  fi
  chown "root:$group" "$archive_file.part"
  chmod 0640 "$archive_file.part"
  mv -f "$archive_file.part" "$archive_file"
  local sum
  sum=$(sha256sum "$archive_file")
  source_id=${sum:0:12}
  description="archive $(basename "$archive") sha256 ${sum:0:12}"
}

unpack_archive() { as_site tar -x -f "$archive_file" --strip-components="$strip_components" -C "$release_dir"; }

# From releases/<id>/<path> up to the home: ../../ and one more per directory in <path>.
relative_to_home() {
  local path=$1 up="../../"
  while [[ $path == */* ]]; do
    up+="../"
    path=${path#*/}
  done
  printf '%s' "$up"
}

# share_path directory|file PATH: links releases/<id>/PATH to shared/PATH. The first release seeds
# what is missing from its own copy (Laravel's storage/ comes with the directories it expects).
share_path() {
  local kind=$1 path=$2
  if [ ! -e "$shared/$path" ]; then
    as_site mkdir -p "$(dirname "$shared/$path")"
    if [ -e "$release_dir/$path" ]; then
      as_site cp -a "$release_dir/$path" "$shared/$path"
    elif [ "$kind" = directory ]; then
      as_site mkdir -p "$shared/$path"
    else
      as_site touch "$shared/$path"
    fi
  fi
  as_site rm -rf "${release_dir:?}/$path"
  as_site mkdir -p "$(dirname "$release_dir/$path")"
  as_site ln -s "$(relative_to_home "$path")shared/$path" "$release_dir/$path"
}

link_shared() {
  local path
  for path in "${shared_directories[@]}"; do share_path directory "$path"; done
  for path in "${shared_files[@]}"; do share_path file "$path"; done
  as_site rm -rf "${release_dir:?}/.env"
  as_site ln -s ../../.env "$release_dir/.env"
}

# shellcheck disable=SC2016 # the inner bash expands them
in_release() { as_site bash -c 'cd "$1" && shift && exec timeout --kill-after=30s "$@"' in-release "$release_dir" "$command_timeout" bash -c "$1"; }

build() {
  local command
  local commands=("${build_commands[@]}")
  if [ "$build_default_composer" = 1 ] && [ -f "$release_dir/composer.json" ]; then
    commands=("composer install --no-dev --optimize-autoloader --no-interaction")
  fi
  for command in "${commands[@]}"; do run_logged "build: $command" in_release "$command"; done
}

# Once per release across every node: the first node to set the release's key in the site's Redis
# runs the migration; the others wait for it to say done. Without Redis in the .env the site has
# one node, and the deploy lock already keeps this host's runs apart.
migrate() {
  [ -n "$migrate_command" ] || return 0
  local redis_host key claim seconds
  redis_host=$(env_value REDIS_HOST)
  if [ -z "$redis_host" ]; then
    run_logged "migration: $migrate_command" in_release "$migrate_command"
    return 0
  fi
  if [ "$(redis PING 2>&1)" != PONG ]; then
    discard_release
    die "$domain: the site's Redis ($redis_host:$(env_value REDIS_PORT), from its .env) does not answer; the migration lock needs it. Release ${live} stays live"
  fi
  key="megaweb:deploy:$site:migration:$release_id"
  seconds=$(timeout_seconds)
  claim=$(redis SET "$key" "running on $(hostname)" NX EX $((seconds + 60)))
  if [ "$claim" = OK ]; then
    if ! (run_logged "migration: $migrate_command" in_release "$migrate_command"); then
      redis DEL "$key" >/dev/null
      discard_release
      exit 1
    fi
    redis SET "$key" "done" EX 2592000 >/dev/null
    return 0
  fi
  for _ in $(seq $((seconds + 60))); do
    case $(redis GET "$key") in
      done)
        say "the migration of $release_id ran on another node"
        return 0
        ;;
      "")
        discard_release
        die "$domain: the migration of $release_id failed on another node; release ${live} stays live"
        ;;
    esac
    sleep 1
  done
  discard_release
  die "$domain: gave up waiting for another node's migration of $release_id"
}

redis() {
  REDISCLI_AUTH=$(env_value REDIS_PASSWORD) redis-cli --no-auth-warning -h "$(env_value REDIS_HOST)" -p "$(env_value REDIS_PORT)" --raw "$@"
}

timeout_seconds() {
  local amount=${command_timeout%?}
  case $command_timeout in *h) echo $((amount * 3600)) ;; *m) echo $((amount * 60)) ;; *) echo "$amount" ;; esac
}

# ln + rename: requests see the old release or the new one, never a missing link.
switch_to() {
  local id=$1
  as_site ln -sfn "releases/$id" "$home/current.tmp"
  as_site mv -T "$home/current.tmp" "$home/current"
  echo "$(date +%s) $id $(cat "$state/built/$id")" >>"$history"
}

# Behind HAProxy balancers the node leaves their rotation while it switches (megaweb-drain, which
# the node's balancer step installs); a node with no balancers has no rotation to leave.
drain={{drainScript}}
drained=0
drain_begin() {
  if [ -x "$drain" ]; then
    "$drain" begin "deploy-$site"
    drained=1
  fi
}
drain_end() {
  if [ "$drained" = 1 ]; then
    "$drain" end "deploy-$site"
    drained=0
  fi
}
trap drain_end EXIT

# go_live ID: the switch, drained. A node whose check of the site's pool (the balancers' own)
# passes within a minute rejoins; one that does not goes back to the release live before and the
# deploy fails, so no client ever met the release that broke it.
go_live() {
  local id=$1
  drain_begin
  switch_to "$id"
  after_switch
  if [ "$drained" = 1 ] && ! "$drain" healthy 60 "{{poolCheckPrefix}}$site"; then
    [ "$live" != none ] || die "$domain: this node failed the balancers' check of the site's pool for a minute on its first release $id"
    switch_to "$live"
    after_switch
    die "$domain: this node failed the balancers' check of the site's pool for a minute on release $id; release $live is live again"
  fi
  drain_end
}

after_switch() {
  local status=0
  if [ -n "$fpm_unit" ] && systemctl is-active --quiet "$fpm_unit"; then systemctl reload "$fpm_unit" || status=$?; fi
  if [ ${#worker_units[@]} -gt 0 ]; then systemctl restart "${worker_units[@]}" || status=$?; fi
  [ "$status" -eq 0 ] || die "$domain: release $(live_release) is live, but reloading PHP-FPM or restarting the workers failed"
}

# Keeps the releases live most recently, the live and the pinned one always; removes the rest.
prune() {
  local id kept=0 removed=0
  declare -A keep=()
  while IFS= read -r id; do
    [ -d "$releases/$id" ] || continue
    if [ "$kept" -lt "$keep_releases" ]; then
      keep[$id]=1
      kept=$((kept + 1))
    fi
  done < <(releases_by_recency)
  keep[$(live_release)]=1
  [ -z "$pinned_release" ] || keep[$pinned_release]=1
  for id in "$releases"/*; do
    id=${id##*/}
    if [ "$id" = "*" ] || [ -n "${keep[$id]:-}" ]; then continue; fi
    rm -rf "${releases:?}/$id" "$state/built/$id" "$state/logs/$id.log"
    removed=$((removed + 1))
  done
  [ "$removed" -eq 0 ] || say "removed $removed old release(s); ${#keep[@]} kept"
}

if [ "$action" = --list ]; then
  list_releases
  exit 0
fi

make_layout
# One deploy of a site at a time on this host (a step and a manual run, say).
exec {lock_fd}>"$state/lock"
flock -w 900 "$lock_fd" || die "$domain: another deploy has held the lock for 15 minutes"
live=$(live_release)
load_secrets

if [ "$action" = --rollback ] || [ -n "$pinned_release" ]; then
  if [ "$action" = --rollback ]; then
    target=$(releases_by_recency | while read -r id; do if [ "$id" != "$live" ] && [ -f "$state/built/$id" ]; then
      echo "$id"
      break
    fi; done)
    [ -n "$target" ] || die "$domain: no earlier release is kept to roll back to"
  else
    target=$pinned_release
    [ -f "$state/built/$target" ] || die "$domain: the pinned release $target is not kept on this host (kept: $(releases_by_recency | tr '\n' ' '))"
  fi
  if [ "$target" = "$live" ]; then
    say "release $target is live already; nothing to do"
    exit 0
  fi
  go_live "$target"
  say "release $target is live again (was $live): $(cat "$state/built/$target")"
  exit 0
fi

started=$EPOCHREALTIME
# The fetch is logged before the release it makes has a name.
log=$state/logs/fetch.log
: >"$log"
if [ "$source" = git ]; then fetch_git; else fetch_archive; fi
release_id=$source_id-$recipe
release_dir=$releases/$release_id
if [ "$release_id" = "$live" ]; then
  say "release $release_id ($description) is live already; nothing to deploy"
  exit 0
fi

if [ ! -f "$state/built/$release_id" ]; then
  # What an interrupted earlier attempt left is not trusted.
  rm -rf "$release_dir"
  mv -f "$log" "$state/logs/$release_id.log"
  log=$state/logs/$release_id.log
  install -d -m 2750 -o "$user" -g "$web_group" "$release_dir"
  if [ "$source" = git ]; then unpack_git; else unpack_archive; fi
  link_shared
  build
  built_in=$(seconds_since "$started")
  migration_started=$EPOCHREALTIME
  migrate
  migrated_in=$(seconds_since "$migration_started")
  echo "$description" >"$state/built/$release_id"
  say "built release $release_id ($description) in ${built_in} s; migration ${migrated_in} s"
fi
go_live "$release_id"
say "release $release_id is live (was $live) after $(seconds_since "$started") s"
prune
