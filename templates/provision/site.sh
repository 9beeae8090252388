# {{domain}}: its own Unix user, directories and files. Each daemon checks them before it reloads;
# a failed check puts the previous files back, so the site keeps serving its last good config.
if ! id -u {{user}} >/dev/null 2>&1; then
  useradd --system --user-group --home-dir {{home}} --no-create-home --shell /usr/sbin/nologin {{user}}
fi
{{#directories}}
install -d -m {{mode}} -o {{user}} -g {{group}} {{path}}
{{/directories}}
{{{files}}}
{{#apacheSite}}
restore_hooks+=("[ -e /etc/apache2/sites-available/{{slug}}.conf ] || a2dissite -q {{slug}}")
a2ensite -q {{slug}} >/dev/null
checked apache2ctl -t
{{/apacheSite}}
{{#olsSite}}
checked check_openlitespeed
{{/olsSite}}
{{#fpm}}
checked php-fpm{{phpVersion}} -t --fpm-config {{master}}
{{/fpm}}
checked nginx -t
{{#fpm}}
if was_replaced {{pool}} || was_replaced {{master}} || ! systemctl is-active --quiet {{unit}}; then
  systemctl enable {{unit}} >/dev/null 2>&1
  systemctl restart {{unit}}
fi
{{/fpm}}
{{#apacheSite}}
if was_replaced; then systemctl reload apache2; fi
{{/apacheSite}}
{{#olsSite}}
# Graceful (SIGUSR1), and it starts OLS when it is not running yet.
if was_replaced || ! systemctl is-active --quiet lshttpd; then /usr/local/lsws/bin/lswsctrl restart >/dev/null; fi
{{/olsSite}}
if was_replaced; then reload_nginx; fi
forget_previous
