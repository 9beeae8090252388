# The MegaWeb Orchestrator {{version}} on this host: Node.js, its account, the release and the units
# of the host's roles ({{units}}). A unit restarts only when its release or unit file changed, or
# when it was not running; a release that does not come up is replaced by the previous one again.
{{> units}}

node_major() { /usr/bin/node --version 2>/dev/null | sed -nE 's/^v([0-9]+)\..*/\1/p' || true; }
major=$(node_major)
if [ -z "$major" ] || [ "$major" -lt 18 ]; then
  apt_install nodejs
  major=$(node_major)
fi
if [ -z "$major" ] || [ "$major" -lt 18 ]; then
  echo "megaweb: the orchestrator needs Node.js 18 or newer at /usr/bin/node; $os_id $os_codename provides ${major:-none}" >&2
  exit 1
fi

if ! id -u {{user}} >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin {{user}}
fi

release={{releases}}/{{release}}
if [ ! -d "$release" ]; then
  install -d -m 755 {{releases}}
  staging=$(mktemp -d {{releases}}/.staging.XXXXXX)
  # The upload lies where its SSH user could write it, so a root-owned copy is what gets checked and unpacked.
  if ! cp {{upload}} "$staging/artifact.tgz"; then
    rm -rf "$staging"
    echo "megaweb: the uploaded artifact {{upload}} is gone; run pulumi up with --replace on this host's artifact copy" >&2
    exit 1
  fi
  if ! echo "{{sha256}}  $staging/artifact.tgz" | sha256sum --check --status; then
    rm -rf "$staging"
    echo "megaweb: {{upload}} does not have the artifact's sha256 {{sha256}}" >&2
    exit 1
  fi
  tar -xzf "$staging/artifact.tgz" -C "$staging" --strip-components=1 --no-same-owner
  rm "$staging/artifact.tgz"
  chmod 755 "$staging"
  mv -T "$staging" "$release"
fi

{{{unitFiles}}}
units=({{units}})
for unit in "${units[@]}"; do
  checked systemd-analyze verify --man=no "/etc/systemd/system/$unit"
done
if was_replaced; then systemctl daemon-reload; fi
stale=()
for unit in "${units[@]}"; do
  systemctl enable --quiet "$unit"
  if was_replaced "/etc/systemd/system/$unit" || ! systemctl is-active --quiet "$unit"; then stale+=("$unit"); fi
done
# Behind HAProxy balancers a web node leaves their rotation while its app restarts (megaweb-drain,
# from the node's balancer step), and rejoins once their checks pass on it again. Up to three
# minutes, as long as the readiness wait: on a loaded 2-core host (load average 20 to 36, other
# clusters booting) 60 s ran out after the app was ready; a healthy node returns at its first pass.
drained=0
if [ "${#stale[@]}" -gt 0 ] && [[ " ${stale[*]} " == *" orchestrator-web.service "* ]] && [ -x {{drainScript}} ]; then
  {{drainScript}} begin orchestrator
  drained=1
  trap '{{drainScript}} end orchestrator' EXIT
fi
if [ "${#stale[@]}" -gt 0 ] && ! { restart_orchestrator "${stale[@]}" && { [ "$drained" = 0 ] || {{drainScript}} healthy 180 {{appCheck}}; }; }; then
  restore_files
  systemctl daemon-reload
  previous=()
  for unit in "${stale[@]}"; do
    if [ -e "/etc/systemd/system/$unit" ]; then previous+=("$unit"); fi
  done
  # The step ends once the previous release serves again, so a failed deploy leaves no gap behind it.
  if [ "${#previous[@]}" -gt 0 ] && ! restart_orchestrator "${previous[@]}"; then
    echo "megaweb: the previous release does not come up either" >&2
  fi
  echo "megaweb: the orchestrator {{version}} did not come up; the previous units were put back" >&2
  exit 1
fi
forget_previous
# A unit of a role this host no longer has (the single box's worker, once the phase has worker
# hosts) stops and goes, so nothing keeps running on an environment this host no longer has.
others=({{otherUnits}})
left=()
for unit in "${others[@]}"; do
  if [ -e "/etc/systemd/system/$unit" ]; then
    systemctl disable --now --quiet "$unit"
    rm -f "/etc/systemd/system/$unit"
    left+=("$unit")
  fi
done
if [ "${#left[@]}" -gt 0 ]; then systemctl daemon-reload; fi

# The running release and the one before it stay, for a quick way back; older ones and uploads go.
# shellcheck disable=SC2012 # release directories are named <version>-<hex>, and ls is what sorts them by time
ls -1dt {{releases}}/*/ | tail -n +3 | { grep -vxF "$release/" || true; } | xargs -r rm -rf
find {{uploadDir}} -maxdepth 1 -name '{{uploadPattern}}' ! -path {{upload}} -delete
echo "orchestrator {{version}} ready: ${units[*]}${stale[*]:+ (restarted ${stale[*]})}${left[*]:+ (stopped ${left[*]})}"
