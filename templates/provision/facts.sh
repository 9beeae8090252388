set -eu
# Droplets finish cloud-init (users, keys, apt) before anything else touches them.
if command -v cloud-init >/dev/null 2>&1; then cloud-init status --wait >/dev/null 2>&1 || true; fi
. /etc/os-release
# Services inherit PID 1's hard open-files limit unless their unit sets one: HAProxy sizes maxconn from it.
printf '{"os":"%s","codename":"%s","memoryMb":%d,"openFilesLimit":%d}\n' "$ID" "${VERSION_CODENAME:-}" \
  "$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)" "$(awk '/^Max open files/ { print $5 }' /proc/1/limits)"
