# Shared by every megaweb step: write files only when they differ, check before reload,
# and put the previous files back when a check fails.
set -euo pipefail
trap 'echo "megaweb: step failed at line $LINENO: $BASH_COMMAND" >&2' ERR
export DEBIAN_FRONTEND=noninteractive
umask 022
previous_dir=/var/lib/megaweb/previous
replaced=()
# Commands that undo a step's other changes (an enabled vhost) once its files are restored.
restore_hooks=()

# Steps of one host run one at a time: Pulumi starts them in parallel, and one site's daemon check
# must never see another site's half-written files.
install -d -m 755 /run/lock
exec 9>/run/lock/megaweb-step.lock
flock 9

# put_file PATH MODE OWNER < content
# Backups live outside the config directories: nginx and Apache include whole directories.
put_file() {
  local path=$1 mode=$2 owner=$3 staged
  # Parents are made only when missing: an existing one keeps the mode its owner gave it.
  [ -d "$(dirname "$path")" ] || install -d -m 755 "$(dirname "$path")"
  install -d -m 700 "$previous_dir"
  staged=$(mktemp "$previous_dir/staged.XXXXXX")
  cat >"$staged"
  chmod "$mode" "$staged"
  chown "$owner" "$staged"
  if [ -f "$path" ] && cmp -s "$staged" "$path"; then rm -f "$staged"; return 0; fi
  local backup=$previous_dir${path//\//%}
  if [ -e "$path" ]; then cp -a "$path" "$backup"; else rm -f "$backup"; fi
  mv -f "$staged" "$path"
  replaced+=("$path")
}

# `systemctl reload nginx` returns once the master has the signal; until it has started new
# workers, new connections still meet the old config. Wait (10 s at most) for a generation of
# workers the reload started, so a finished step means the new config is what answers.
reload_nginx() {
  local master old_workers workers
  master=$(systemctl show -p MainPID --value nginx)
  old_workers=$(pgrep -P "$master" | sort || true)
  systemctl reload nginx
  for _ in $(seq 100); do
    # Old workers are renamed "worker process is shutting down" and no longer accept.
    workers=$(pgrep -P "$master" -f 'worker process$' | sort || true)
    if [ -n "$workers" ] && [ -z "$(comm -12 <(echo "$old_workers") <(echo "$workers"))" ]; then return 0; fi
    sleep 0.1
  done
  echo "megaweb: nginx started no new workers within 10 s of the reload" >&2
  return 1
}

# True when this step replaced PATH (or any file when no PATH is given).
was_replaced() {
  local path
  [ $# -eq 0 ] && { [ "${#replaced[@]}" -gt 0 ]; return; }
  for path in "${replaced[@]}"; do [ "$path" = "$1" ] && return 0; done
  return 1
}

restore_files() {
  local path backup
  for path in "${replaced[@]}"; do
    backup=$previous_dir${path//\//%}
    if [ -e "$backup" ]; then mv -f "$backup" "$path"; else rm -f "$path"; fi
  done
  replaced=()
  local hook
  for hook in "${restore_hooks[@]}"; do eval "$hook" || true; done
}

# checked CMD...: runs a daemon's config check; on failure the previous files come back and the step fails.
checked() {
  local output
  if ! output=$("$@" 2>&1); then
    echo "$output" >&2
    restore_files
    echo "megaweb: check failed: $*; the previous configuration was restored and keeps serving" >&2
    exit 1
  fi
}

# OpenLiteSpeed's `-t` exits 1 on benign warnings: only exit 2, [ERROR] lines and a dropped vhost
# ("is not accessible", "configuration failed!", logged as WARN) mean the config is broken.
check_openlitespeed() {
  local output status=0
  install -d /tmp/lshttpd
  output=$(/usr/local/lsws/bin/openlitespeed -t 2>&1) || status=$?
  if [ "$status" -eq 2 ] || grep -qE '\[ERROR\]|is not accessible|configuration failed!' <<<"$output"; then
    echo "$output"
    return 1
  fi
}

forget_previous() {
  local path
  for path in "${replaced[@]}"; do rm -f "$previous_dir${path//\//%}"; done
  replaced=()
}

apt_install() {
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "$@" >/dev/null
}

# apt_install_stopped PACKAGE...: daemons come up only after megaweb has configured and checked them.
apt_install_stopped() {
  local policy=/usr/sbin/policy-rc.d
  if [ -e "$policy" ]; then apt_install "$@"; return; fi
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  apt_install "$@" || { rm -f "$policy"; return 1; }
  rm -f "$policy"
}

os_id=$(. /etc/os-release && echo "$ID")
os_codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
