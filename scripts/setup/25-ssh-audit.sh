#!/usr/bin/env bash
# ssh-audit 3.2.0 from PyPI in a venv of its own: Debian 12's ssh-audit 2.5 predates the Terrapin
# fix and calls the strict-KEX marker every patched OpenSSH sends an unknown algorithm, a warning no
# sshd config can clear. 3.2.0 knows it; 3.3 and later also warn on every key exchange without a
# post-quantum part, which the command provider's Go client (curve25519-sha256) cannot yet speak.
set -euo pipefail
version=3.2.0
venv="${MEGAWEB_CACHE:-/var/cache/megaweb}/ssh-audit-$version"
if [ -x "$venv/bin/ssh-audit" ]; then exit 0; fi
rm -rf "$venv"
/usr/bin/python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "ssh-audit==$version"
