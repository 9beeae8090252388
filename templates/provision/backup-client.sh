# Lets {{client}} into the backup host's SFTP account with the key it made, for its own
# repository {{repository}}. The account's keys are rebuilt from one file per host.
install -d -m 700 -o {{user}} -g {{user}} {{repository}}
{{{key}}}
cat {{clientsDir}}/*.pub >{{authorizedKeys}}.new
chmod 644 {{authorizedKeys}}.new
mv -f {{authorizedKeys}}.new {{authorizedKeys}}
forget_previous
