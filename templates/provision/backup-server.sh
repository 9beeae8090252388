# The backup host: an SFTP-only account whose home holds one restic repository per host in
# {{path}}. Every repository is encrypted by the hosts with the stack's backup password, which
# never comes here. The last line hands this host's SSH key to the hosts that back up here.
if ! id {{user}} >/dev/null 2>&1; then useradd --system --home-dir {{path}} --no-create-home --shell /usr/sbin/nologin {{user}}; fi
install -d -m 700 -o {{user}} -g {{user}} {{path}}
install -d -m 755 {{clientsDir}}
[ -f {{authorizedKeys}} ] || install -m 644 /dev/null {{authorizedKeys}}
{{{sshd}}}
checked sshd -t
if was_replaced; then systemctl reload-or-restart ssh; fi
forget_previous
echo "megaweb-backup host key: $(cut -d ' ' -f 1,2 /etc/ssh/ssh_host_ed25519_key.pub)"
