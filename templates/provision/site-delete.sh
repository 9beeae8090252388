# {{domain}} left the config: its vhost, pool and user go. Its home is kept aside, not deleted.
{{#fpm}}
systemctl disable --now {{unit}} >/dev/null 2>&1 || true
{{/fpm}}
{{#apacheSite}}
a2dissite -q {{slug}} >/dev/null 2>&1 || true
{{/apacheSite}}
rm -f {{paths}}
nginx -t && reload_nginx
{{#apacheSite}}
apache2ctl -t && systemctl reload apache2
{{/apacheSite}}
{{#olsSite}}
check_openlitespeed && /usr/local/lsws/bin/lswsctrl restart >/dev/null
{{/olsSite}}
{{> homeAside}}
