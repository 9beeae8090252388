# {{host}} issues the stack's Let's Encrypt certificates for every web node: the key it pushes them
# with (made here; only its public half leaves), the private port where the other nodes ask for
# challenges, and the push command.
if [ ! -s {{key}} ]; then
  install -d -m 700 "$(dirname {{key}})"
  ssh-keygen -q -t ed25519 -N '' -C 'megaweb-certificates@{{host}}' -f {{key}}
fi
{{{files}}}
checked nginx -t
if was_replaced; then reload_nginx; fi
forget_previous
echo "megaweb-certificates key: $(cut -d ' ' -f 1,2 {{key}}.pub)"
