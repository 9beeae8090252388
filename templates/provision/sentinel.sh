# Sentinel, watching the Redis primary as {{masterName}}. Its first config (with the passwords)
# arrives on stdin and is written only while this Sentinel watches nothing; after that the file is
# Sentinel's, and a changed setting is applied with SENTINEL SET, which Sentinel persists itself.
seed=$(cat)
sentinel_password=$(sed -n 's/^requirepass //p' <<<"$seed")
redis_password=$(sed -n 's/^sentinel auth-pass {{masterName}} //p' <<<"$seed")
sentinel() { REDISCLI_AUTH=$sentinel_password redis-cli -h 127.0.0.1 -p {{port}} "$@"; }
if ! grep -q '^sentinel monitor {{masterName}} ' {{configFile}} 2>/dev/null; then
  # Another Sentinel may know a newer primary than the plan's: a replaced Sentinel must not
  # point the others back at the old one.
  primary=""
  for peer in {{peers}}; do
    primary=$(REDISCLI_AUTH=$sentinel_password redis-cli -h "${peer%:*}" -p "${peer##*:}" --raw SENTINEL get-master-addr-by-name {{masterName}} 2>/dev/null | paste -sd' ') || primary=""
    [[ $primary =~ ^[^\ ]+\ [0-9]+$ ]] && break
    primary=""
  done
  primary=${primary:-{{primaryHost}} {{primaryPort}}}
  put_file {{configFile}} 0640 redis:redis < <(awk -v primary="$primary" '$1 == "sentinel" && $2 == "monitor" && $3 == "{{masterName}}" { split(primary, at, " "); $4 = at[1]; $5 = at[2] } { print }' <<<"$seed")
  systemctl enable redis-sentinel.service >/dev/null 2>&1
  systemctl restart redis-sentinel
  forget_previous
  echo "megaweb: Sentinel watches $primary"
fi
systemctl is-active --quiet redis-sentinel || systemctl start redis-sentinel
for _ in $(seq 1 50); do
  [ "$(sentinel ping 2>/dev/null)" = PONG ] && break
  sleep 0.2
done
[ "$(sentinel ping 2>/dev/null)" = PONG ] || { echo "megaweb: Sentinel does not answer" >&2; exit 1; }

# Settings that differ from what the running Sentinel has, applied and persisted by Sentinel.
current=$(sentinel --raw SENTINEL MASTER {{masterName}} | paste -d' ' - -)
changes=""
while read -r key value; do
  grep -qxF "$key $value" <<<"$current" || changes+="SENTINEL SET {{masterName}} $key $value"$'\n'
done <<'SETTINGS'
{{{settings}}}
SETTINGS
grep -qxF "sentinel auth-pass {{masterName}} $redis_password" {{configFile}} || changes+="SENTINEL SET {{masterName}} auth-pass $redis_password"$'\n'
[ "$(sentinel --raw SENTINEL CONFIG GET sentinel-pass | sed -n 2p)" = "$sentinel_password" ] || changes+="SENTINEL CONFIG SET sentinel-pass $sentinel_password"$'\n'
[ "$(sentinel --raw SENTINEL CONFIG GET announce-ip | sed -n 2p)" = {{announceIp}} ] || changes+="SENTINEL CONFIG SET announce-ip {{announceIp}}"$'\n'
if [ -n "$changes" ]; then
  output=$(printf '%s' "$changes" | sentinel)
  if grep -q '^ERR' <<<"$output"; then
    echo "megaweb: Sentinel refused a setting: $(grep '^ERR' <<<"$output")" >&2
    exit 1
  fi
  echo "megaweb: set on the running Sentinel: $(cut -d' ' -f4 <<<"$changes" | paste -sd' ')"
fi
