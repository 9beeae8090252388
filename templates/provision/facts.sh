set -eu
# Droplets finish cloud-init (users, keys, apt) before anything else touches them.
if command -v cloud-init >/dev/null 2>&1; then cloud-init status --wait >/dev/null 2>&1 || true; fi
. /etc/os-release
# Services inherit PID 1's hard open-files limit unless their unit sets one: HAProxy sizes maxconn from it.
# Each IPv4 address's interface: keepalived names the private one (eth1 on a droplet, host0 on a local machine).
interfaces=$(ip -o -4 addr show 2>/dev/null | awk '{ split($4, address, "/"); printf "%s\"%s\":\"%s\"", (n++ ? "," : ""), address[1], $2 }')
printf '{"os":"%s","codename":"%s","memoryMb":%d,"cpus":%d,"openFilesLimit":%d,"interfaces":{%s}}\n' "$ID" "${VERSION_CODENAME:-}" \
  "$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)" "$(nproc)" "$(awk '/^Max open files/ { print $5 }' /proc/1/limits)" "$interfaces"
