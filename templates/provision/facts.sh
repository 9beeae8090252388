set -eu
# Droplets finish cloud-init (users, keys, apt) before anything else touches them.
if command -v cloud-init >/dev/null 2>&1; then cloud-init status --wait >/dev/null 2>&1 || true; fi
. /etc/os-release
printf '{"os":"%s","codename":"%s","memoryMb":%d}\n' "$ID" "${VERSION_CODENAME:-}" "$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)"
