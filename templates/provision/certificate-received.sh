# {{domain}}: its certificate is issued by {{issuer}}, which pushed it here in its step
# {{pushStep}}. Once it is here, HTTPS with the redirect and HSTS, as on {{issuer}}.
if [ ! -s {{certificate}} ]; then
  echo "megaweb: {{issuer}} has not pushed the certificate of {{domain}} to {{host}}: see {{issuer}}'s certificate steps" >&2
  exit 1
fi
{{{tlsVhost}}}
checked nginx -t
if was_replaced; then reload_nginx; fi
forget_previous
