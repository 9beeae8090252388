# Let's Encrypt: HTTPS once the certificate exists here; until then HTTP and the ACME challenge,
# which the site's certificate step answers through before it switches to HTTPS.
if [ -s {{certificate}} ]; then
{{{tlsVhost}}}
else
{{{httpOnlyVhost}}}
fi
