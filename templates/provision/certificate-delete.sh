# {{domain}} left the stack or Let's Encrypt: its certificate goes, so certbot.timer stops renewing
# a name this host no longer answers for.
if [ -d /etc/letsencrypt/live/{{domain}} ]; then certbot delete --cert-name {{domain}} --non-interactive; fi
rm -f {{certbotConfig}}
