#!/usr/bin/env bash
# Debian packages the tests need, from the lists in scripts/setup/packages/*.txt.
# Services are kept from starting on install: tests run each daemon in its own config root.
set -euo pipefail
cd "$(dirname "$0")"
mapfile -t wanted < <(cat packages/*.txt 2>/dev/null | sed 's/#.*//' | tr -s ' \t' '\n' | sed '/^$/d' | sort -u)
[ "${#wanted[@]}" -gt 0 ] || exit 0
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ "${#missing[@]}" -gt 0 ] || exit 0
if [ "$(id -u)" -ne 0 ]; then echo "need root to apt-get install: ${missing[*]}" >&2; exit 1; fi
policy=/usr/sbin/policy-rc.d
created_policy=
if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created_policy=1; fi
trap '[ -n "$created_policy" ] && rm -f "$policy"' EXIT
apt-get update -o DPkg::Lock::Timeout=600 -qq
DEBIAN_FRONTEND=noninteractive apt-get install -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends "${missing[@]}"
