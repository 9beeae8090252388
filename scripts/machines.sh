#!/usr/bin/env bash
# Local machines: Debian 12 systems booted with systemd-nspawn on a host bridge in 198.18.0.0/15,
# reachable over SSH with a generated key. They stand in for droplets or existing servers.
#
#   scripts/machines.sh up [--set NAME] [--count N]   boot N machines, print the set's hosts.json
#   scripts/machines.sh down [--set NAME]             power off and remove every machine of the set
#   scripts/machines.sh configure [--set NAME] --stack STACK [--config-file FILE] [--role ROLE[,ROLE...]]
#                                                     point a stack's `target: existing` at the set
#   scripts/machines.sh list                          the sets that exist
#
# A set owns one bridge, one /24 of 198.18.0.0/15, one nftables table and the processes it booted;
# `down` ends only those PIDs. The base image and downloaded .deb files are cached on the host
# (MEGAWEB_CACHE, default /var/cache/megaweb) so later machines boot and install quickly.
set -euo pipefail

cache_dir=${MEGAWEB_CACHE:-/var/cache/megaweb}
sets_dir=${MEGAWEB_MACHINES:-/var/lib/megaweb/machines}
lock_file=/run/lock/megaweb-machines.lock
suite=bookworm
mirror=http://deb.debian.org/debian
security_mirror=http://deb.debian.org/debian-security
base_packages=systemd,systemd-sysv,dbus,openssh-server,iproute2,ca-certificates
# Bumped when the image's own settings change, so a cached base is built again.
base_revision=2
base_dir=$cache_dir/base/$suite-$(echo "$base_packages $base_revision" | sha256sum | cut -c1-12)
deb_cache=$cache_dir/debs/$suite

die() { echo "machines: $*" >&2; exit 1; }
log() { echo "machines: $*" >&2; }

require_host() {
  [ "$(uname -s)" = Linux ] || die "local machines need Linux (systemd-nspawn); this is $(uname -s)"
  [ "$(id -u)" -eq 0 ] || die "local machines need root (bridges, nftables, systemd-nspawn); run as root"
  local tool missing=()
  for tool in systemd-nspawn debootstrap nft ip ssh ssh-keygen nsenter flock; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [ "${#missing[@]}" -eq 0 ] || die "missing tools: ${missing[*]} (bash scripts/setup/00-apt.sh installs them from scripts/setup/packages/machines.txt)"
}

# The set name becomes part of a bridge name, which Linux caps at 15 characters.
check_set_name() {
  [[ $1 =~ ^[a-z][a-z0-9]{0,10}$ ]] || die "--set: \"$1\" must be 1-11 lower-case letters and digits, starting with a letter"
}

# The base image, built once and brought up to date daily, as a provider refreshes its droplet
# images: from a base weeks old every machine installed the weeks' security fixes itself (seen:
# seven dpkg runs of unattended-upgrade per machine in the hardening step, times 30 machines a
# suite). Returns holding the lock shared, so no refresh swaps the base under a machine's copy.
build_base() {
  mkdir -p "$(dirname "$base_dir")"
  exec 8>"$base_dir.lock"
  flock 8
  if [ ! -f "$base_dir/.complete" ] || [ -z "$(find "$base_dir/.upgraded" -mmin -1440 2>/dev/null)" ]; then
    rm -rf "$base_dir.tmp"
    if [ -f "$base_dir/.complete" ]; then
      log "bringing the $suite base image up to date (daily)"
      cp -a "$base_dir" "$base_dir.tmp"
    else
      log "building the $suite base image in $base_dir (once; about a minute)"
      debootstrap --variant=minbase --include="$base_packages" "$suite" "$base_dir.tmp" "$mirror" >"$base_dir.log" 2>&1 ||
        die "debootstrap failed; see $base_dir.log"
      # debootstrap writes only `main`; a real server also has the updates and security suites, and
      # without them MariaDB 10.11.18 enables mariadb.socket, listening on every interface.
      cat >"$base_dir.tmp/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security_mirror $suite-security main
EOF
      # dpkg without an fsync per unpacked file, as Debian's own container images do: a machine that
      # loses power mid-install is booted again from the base, never repaired. Measured on two
      # machines installing the web, MariaDB, Redis and HAProxy packages: 50.4 s, and 41.4 s with it.
      echo force-unsafe-io >"$base_dir.tmp/etc/dpkg/dpkg.cfg.d/megaweb-unsafe-io"
    fi
    systemd-nspawn -q -D "$base_dir.tmp" --register=no --keep-unit --resolv-conf=copy-host sh -c \
      'apt-get -q update && DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Options::=--force-confold upgrade && apt-get clean' \
      >>"$base_dir.log" 2>&1 || die "upgrading the base image failed; see $base_dir.log"
    # An upgraded openssh-server makes host keys; each machine makes its own instead.
    rm -rf "$base_dir.tmp/etc/ssh/ssh_host_"*
    touch "$base_dir.tmp/.complete" "$base_dir.tmp/.upgraded"
    rm -rf "$base_dir"
    mv "$base_dir.tmp" "$base_dir"
  fi
  flock -s 8
}

# The first 198.18.N.0/24 that no interface on this host uses yet.
free_subnet() {
  local n used
  used=$(ip -o -4 addr show | awk '{print $4}')
  for n in $(seq 10 250); do
    grep -q "^198\.18\.$n\." <<<"$used" || { echo "198.18.$n"; return 0; }
  done
  die "no free /24 left in 198.18.10.0-198.18.250.0"
}

setup_network() {
  local set=$1 prefix=$2 bridge=mw-$1
  ip link add name "$bridge" type bridge
  ip addr add "$prefix.1/24" dev "$bridge"
  ip link set "$bridge" up
  sysctl -qw net.ipv4.ip_forward=1
  # Every machine's systemd, journald and udev take inotify instances from root's host-wide
  # allowance (128 by default): with about 17 machines up, the next one's systemd exits while
  # booting (seen: 134 instances in use, "exited while booting").
  [ "$(sysctl -n fs.inotify.max_user_instances)" -ge 8192 ] || sysctl -qw fs.inotify.max_user_instances=8192
  # Egress for apt inside the machines; only the set's own subnet is masqueraded.
  nft -f - <<EOF
table ip megaweb-$set {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr $prefix.0/24 oifname != "$bridge" masquerade
  }
}
EOF
}

teardown_network() {
  local set=$1
  nft delete table ip "megaweb-$set" 2>/dev/null || true
  ip link del "mw-$set" 2>/dev/null || true
}

prepare_root() {
  local root=$1 name=$2 address=$3 gateway=$4 pubkey=$5
  cp -a "$base_dir" "$root"
  rm -f "$root/.complete"
  echo "$name" >"$root/etc/hostname"
  # Each machine gets its own identity rather than the base image's.
  : >"$root/etc/machine-id"
  ssh-keygen -A -f "$root" >/dev/null
  install -d -m 700 "$root/root/.ssh"
  install -m 600 "$pubkey" "$root/root/.ssh/authorized_keys"
  cat >"$root/etc/systemd/network/10-host0.network" <<EOF
[Match]
Name=host0

[Network]
Address=$address/24
Gateway=$gateway
EOF
  ln -sf /lib/systemd/system/systemd-networkd.service "$root/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  # Hard links share the host's cached .deb files without a shared apt lock between machines.
  if compgen -G "$deb_cache/*.deb" >/dev/null; then
    cp -al "$deb_cache"/*.deb "$root/var/cache/apt/archives/"
  fi
}

# PID 1 of the machine booted by nspawn PID $1: its child that is PID 1 in its own namespace.
machine_init_pid() {
  local nspawn=$1 pid
  for pid in $(ps -o pid= --ppid "$nspawn"); do
    if awk '/^NSpid:/ { exit !($NF == 1) }' "/proc/$pid/status" 2>/dev/null; then echo "$pid"; return 0; fi
  done
  return 1
}

# True when PID $1 is still the systemd-nspawn this set started for root $2 (PIDs get reused).
is_our_nspawn() {
  local pid=$1 root=$2
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "^systemd-nspawn -D $root "
}

boot_machine() {
  local dir=$1 name=$2 bridge=$3
  setsid systemd-nspawn -D "$dir/root" --register=no --keep-unit -b -M "$name" \
    --network-bridge="$bridge" --resolv-conf=off </dev/null >"$dir/console.log" 2>&1 &
  echo $! >"$dir/nspawn.pid"
}

# Booting many machines at once on a busy host takes minutes (seen: a ninth machine still
# "initializing" after 120 s with another set booting beside it).
wait_machine() {
  local dir=$1 address=$2 key=$3 deadline=$((SECONDS + ${MEGAWEB_BOOT_SECONDS:-300})) init="" state
  local nspawn
  nspawn=$(cat "$dir/nspawn.pid")
  until init=$(machine_init_pid "$nspawn"); do
    is_our_nspawn "$nspawn" "$dir/root" || die "machine in $dir exited while booting; see $dir/console.log"
    [ $SECONDS -lt $deadline ] || die "machine in $dir did not start systemd; see $dir/console.log"
    sleep 0.5
  done
  until state=$(nsenter -t "$init" -m -u -i -n -p systemctl is-system-running 2>/dev/null) || [ "$state" = degraded ]; do
    [ $SECONDS -lt $deadline ] || die "machine in $dir did not finish booting (state: ${state:-none}); see $dir/console.log"
    sleep 1
  done
  until ssh -i "$key" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o ConnectTimeout=2 -o LogLevel=ERROR "root@$address" true 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || die "machine $address does not answer SSH"
    sleep 1
  done
}

write_hosts_json() {
  local set_dir=$1 prefix=$2 count=$3 set=$4 i sep=""
  {
    printf '{"set":"%s","subnet":"%s.0/24","gateway":"%s.1","privateKeyPath":"%s","machines":[' "$set" "$prefix" "$prefix" "$set_dir/id_ed25519"
    for i in $(seq 1 "$count"); do
      printf '%s{"name":"%s-%d","address":"%s.%d","port":22,"user":"root"}' "$sep" "$set" "$i" "$prefix" $((i + 1))
      sep=,
    done
    printf ']}\n'
  } >"$set_dir/hosts.json"
}

cmd_up() {
  local set=$1 count=$2 set_dir=$sets_dir/$1 prefix i
  [[ $count =~ ^[1-9][0-9]?$ ]] || die "--count: \"$count\" must be a number from 1 to 99"
  [ ! -e "$set_dir" ] || die "set \"$set\" exists already ($set_dir); run: scripts/machines.sh down --set $set"
  build_base
  mkdir -p "$sets_dir" "$deb_cache"
  exec 9>"$lock_file"
  flock 9
  prefix=$(free_subnet)
  mkdir -p "$set_dir"
  echo "$prefix" >"$set_dir/prefix"
  trap 'log "failed; removing set $set"; cmd_down "$set" || true' EXIT
  setup_network "$set" "$prefix"
  flock -u 9
  ssh-keygen -q -t ed25519 -N "" -C "megaweb-$set" -f "$set_dir/id_ed25519"
  for i in $(seq 1 "$count"); do
    mkdir -p "$set_dir/$set-$i"
    prepare_root "$set_dir/$set-$i/root" "$set-$i" "$prefix.$((i + 1))" "$prefix.1" "$set_dir/id_ed25519.pub"
    boot_machine "$set_dir/$set-$i" "$set-$i" "mw-$set"
  done
  flock -u 8
  for i in $(seq 1 "$count"); do
    wait_machine "$set_dir/$set-$i" "$prefix.$((i + 1))" "$set_dir/id_ed25519"
  done
  write_hosts_json "$set_dir" "$prefix" "$count" "$set"
  trap - EXIT
  log "set $set: $count machine(s) on $prefix.0/24 up in ${SECONDS}s"
  cat "$set_dir/hosts.json"
}

stop_machine() {
  local dir=$1 nspawn init
  [ -f "$dir/nspawn.pid" ] || return 0
  nspawn=$(cat "$dir/nspawn.pid")
  if is_our_nspawn "$nspawn" "$dir/root"; then
    if init=$(machine_init_pid "$nspawn"); then
      nsenter -t "$init" -m -u -i -n -p systemctl poweroff 2>/dev/null || true
    fi
    for _ in $(seq 1 30); do is_our_nspawn "$nspawn" "$dir/root" || break; sleep 0.5; done
    # nspawn turns SIGTERM into an orderly halt of the machine; KILL is the last resort.
    if is_our_nspawn "$nspawn" "$dir/root"; then kill -TERM "$nspawn" 2>/dev/null || true; sleep 3; fi
    if is_our_nspawn "$nspawn" "$dir/root"; then kill -KILL "$nspawn" 2>/dev/null || true; sleep 1; fi
  fi
  # Keep what the machine downloaded for the next one.
  if compgen -G "$dir/root/var/cache/apt/archives/*.deb" >/dev/null; then
    cp -n "$dir/root/var/cache/apt/archives/"*.deb "$deb_cache/" 2>/dev/null || true
  fi
}

cmd_down() {
  local set=$1 set_dir=$sets_dir/$1 dir
  [ -d "$set_dir" ] || { log "set $set does not exist"; teardown_network "$set"; return 0; }
  mkdir -p "$deb_cache"
  for dir in "$set_dir"/*/; do
    [ -d "$dir/root" ] || [ -f "$dir/nspawn.pid" ] || continue
    stop_machine "${dir%/}"
  done
  teardown_network "$set"
  rm -rf --one-file-system "$set_dir"
  log "set $set removed"
}

# Sets the stack's target and hosts from the set's hosts.json, and its SSH key as a secret.
# `roles` is one role for every machine, or a comma-separated role per machine in order; `none`
# leaves a machine out of the stack (a client outside the cluster, or a host to grow into later).
cmd_configure() {
  local set=$1 stack=$2 config_file=$3 roles=$4 set_dir=$sets_dir/$1 n=0 address role
  [ -f "$set_dir/hosts.json" ] || die "set \"$set\" is not up; run: scripts/machines.sh up --set $set"
  [ -n "$stack" ] || die "--stack is required"
  command -v pulumi >/dev/null || die "pulumi is not on PATH"
  local -a file_args=(--stack "$stack")
  [ -z "$config_file" ] || file_args+=(--config-file "$config_file")
  pulumi config set "${file_args[@]}" megaweb:target existing
  pulumi config rm "${file_args[@]}" megaweb:hosts >/dev/null 2>&1 || true
  local -a addresses per_machine
  mapfile -t addresses < <(grep -o '"address":"[^"]*"' "$set_dir/hosts.json" | cut -d'"' -f4)
  IFS=, read -r -a per_machine <<<"$roles"
  [ "${#per_machine[@]}" -eq 1 ] || [ "${#per_machine[@]}" -eq "${#addresses[@]}" ] ||
    die "--role: \"$roles\" names ${#per_machine[@]} roles for ${#addresses[@]} machines; give one role, or one per machine"
  local -A taken=()
  for address in "${addresses[@]}"; do
    role=${per_machine[$((${#per_machine[@]} == 1 ? 0 : n))]}
    if [ "$role" = none ]; then n=$((n + 1)); continue; fi
    pulumi config set "${file_args[@]}" --path "megaweb:hosts.${role}[${taken[$role]:-0}].address" "$address"
    taken[$role]=$((${taken[$role]:-0} + 1))
    n=$((n + 1))
  done
  pulumi config set "${file_args[@]}" --secret megaweb:sshPrivateKey <"$set_dir/id_ed25519" >/dev/null
}

main() {
  local action=${1:-} set=local count=1 stack="" config_file="" roles=web
  [ $# -gt 0 ] && shift
  while [ $# -gt 0 ]; do
    case $1 in
      --set) set=${2:?--set needs a value}; shift 2 ;;
      --count) count=${2:?--count needs a value}; shift 2 ;;
      --stack) stack=${2:?--stack needs a value}; shift 2 ;;
      --config-file) config_file=${2:?--config-file needs a value}; shift 2 ;;
      --role) roles=${2:?--role needs a value}; shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  check_set_name "$set"
  case $action in
    up) require_host; cmd_up "$set" "$count" ;;
    down) require_host; cmd_down "$set" ;;
    configure) cmd_configure "$set" "$stack" "$config_file" "$roles" ;;
    list) ls "$sets_dir" 2>/dev/null || true ;;
    *) die "usage: scripts/machines.sh up|down|configure|list [--set NAME] [--count N] [--stack STACK]" ;;
  esac
}

main "$@"
