# {{domain}}: its Let's Encrypt certificate, issued by certbot over HTTP-01 through this host's
# nginx. Until the certificate exists the site serves plain HTTP and the challenge; once it does,
# HTTPS with the redirect and HSTS. A failed issuance fails this step with certbot's reason, and
# every other site (and this one, over HTTP) keeps serving. certbot writes the private key on
# this host; nothing here reads it.
command -v certbot >/dev/null || apt_install certbot
{{{certbotFiles}}}
if was_replaced; then systemctl daemon-reload; fi
forget_previous
if [ ! -s {{certificate}} ]; then
{{{httpOnlyVhost}}}
  checked nginx -t
  if was_replaced; then reload_nginx; fi
  forget_previous
fi
# certbot keeps a certificate until it is due, unless it came from another ACME directory.
force=()
if [ -f {{renewalConfig}} ] && ! grep -qxF 'server = {{server}}' {{renewalConfig}}; then force=(--force-renewal); fi
if ! certbot certonly --config {{certbotConfig}} "${force[@]}" </dev/null; then
  echo "megaweb: no certificate for {{domain}} (certbot's reason is above); the site keeps serving plain HTTP" >&2
  exit 1
fi
{{{tlsVhost}}}
checked nginx -t
if was_replaced; then reload_nginx; fi
forget_previous
# apt's policy kept the timer from starting at install.
systemctl enable --now certbot.timer >/dev/null 2>&1
