# Backups of {{hostName}}: restic and the tools the scripts read data with, megaweb-backup and
# megaweb-restore, and the timer. The repository password reaches {{passwordFile}} through its own
# secret-only step. For SFTP this host makes its own key (it never leaves the host) and prints
# the public half, which the backup host's step lets in for SFTP only.
if ! command -v restic >/dev/null || ! command -v rsync >/dev/null; then apt_install restic rsync; fi
install -d -m 700 {{configDir}}
{{{files}}}
{{#identityFile}}
[ -f {{identityFile}} ] || ssh-keygen -q -t ed25519 -N '' -C 'megaweb-backup@{{hostName}}' -f {{identityFile}}
echo "megaweb-backup key: $(ssh-keygen -y -f {{identityFile}})"
{{/identityFile}}
if was_replaced; then systemctl daemon-reload; fi
systemctl enable --now megaweb-backup.timer >/dev/null 2>&1
forget_previous
