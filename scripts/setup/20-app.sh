#!/usr/bin/env bash
# Debian 12's own Node.js 18 (the runtime the orchestrator artifact targets), unpacked beside the
# host's newer Node so the artifact test runs the bundle on exactly what a Debian server runs.
# Debian builds node with acorn, cjs-module-lexer and undici loaded from /usr/share/nodejs, so the
# test runs it in a private mount namespace with this tree's /usr/share laid over the host's.
set -euo pipefail
root="${MEGAWEB_CACHE:-/var/cache/megaweb}/debian-node18"
if [ -x "$root/usr/bin/node" ] && [ -f "$root/usr/share/nodejs/undici/index.js" ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then echo "20-app.sh: need root to fetch Debian's nodejs 18 with apt-get download" >&2; exit 1; fi
version="$(apt-cache policy libnode108 | awk '/Candidate:/ { print $2 }')"
if [ -z "$version" ] || [ "$version" = "(none)" ]; then
  apt-get update -qq
  version="$(apt-cache policy libnode108 | awk '/Candidate:/ { print $2 }')"
fi
case "$version" in
  18.*) ;;
  *) echo "20-app.sh: expected Debian's libnode108 18.x, apt offers '${version:-nothing}'" >&2; exit 1 ;;
esac
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
# _apt downloads into the directory, so it must be able to write there.
chown _apt "$work" 2>/dev/null || true
(cd "$work" && apt-get download -qq "nodejs=$version" "libnode108=$version" node-acorn node-cjs-module-lexer node-undici node-busboy)
rm -rf "$root.partial"
mkdir -p "$root.partial"
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$root.partial"; done
rm -rf "$root"
mv "$root.partial" "$root"
echo "Debian node $version unpacked in $root"
