# A unit box-retire.sh masked: its daemon was stopped for good once nothing was left in it.
retired() { [ "$(readlink "{{root}}/etc/systemd/system/$1")" = /dev/null ]; }
