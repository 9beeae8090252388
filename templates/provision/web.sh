# The web tier: nginx in front; PHP-FPM for each PHP version the sites use; Apache on loopback
# behind nginx when a site asks for it. Each site's FPM master is started by the site's own step.
{{{phpRepository}}}
{{{openLiteSpeedRepository}}}
apt_install_stopped {{packages}}
forget_previous

# One FPM master per site instead of the distribution's one per version, so a change to one
# site's pool restarts only that site's workers.
{{#phpVersions}}
systemctl disable --now php{{.}}-fpm.service >/dev/null 2>&1 || true
systemctl mask php{{.}}-fpm.service >/dev/null 2>&1
{{/phpVersions}}
{{{units}}}
if was_replaced; then systemctl daemon-reload; fi
forget_previous

rm -f /etc/nginx/sites-enabled/default
{{#directories}}
install -d -m {{mode}} -o {{user}} -g {{group}} {{path}}
{{/directories}}
{{{files}}}
checked nginx -t
{{#apache}}
a2dissite -q 000-default >/dev/null 2>&1 || true
a2enmod -q {{modules}} >/dev/null
a2enconf -q {{confs}} >/dev/null
checked apache2ctl -t
{{/apache}}
systemctl enable nginx.service >/dev/null 2>&1
if ! systemctl is-active --quiet nginx; then systemctl start nginx; elif was_replaced; then reload_nginx; fi
{{#apache}}
systemctl enable apache2.service >/dev/null 2>&1
if systemctl is-active --quiet apache2; then systemctl reload apache2; else systemctl start apache2; fi
{{/apache}}
{{#openlitespeed}}
# httpd_config.conf registers vhost files that the site steps write; they check OLS and restart it.
systemctl enable lshttpd.service >/dev/null 2>&1
{{/openlitespeed}}
{{#phpVersions}}
# The version's php.ini settings are read by every site's master at start.
if was_replaced /etc/php/{{.}}/fpm/conf.d/99-megaweb.ini; then
  systemctl try-restart 'php{{.}}-fpm-site@*.service'
fi
{{/phpVersions}}
forget_previous
