# This web node behind the HAProxy balancers: their PROXY protocol header and their health check.
# nginx checks the files before it reloads; a failed check puts the previous ones back.
{{{files}}}
checked nginx -t
if was_replaced; then reload_nginx; fi
forget_previous
