# This web node behind the HAProxy balancers: their PROXY protocol header and their health check.
# nginx checks the files before it reloads; a failed check puts the previous ones back.
{{{files}}}
checked nginx -t
if was_replaced; then reload_nginx; fi
forget_previous
# Its agent, through which deploys drain the node (megaweb-drain); it answers from its socket.
{{{agentFiles}}}
if was_replaced; then
  systemctl daemon-reload
  systemctl restart {{socketUnit}}
fi
systemctl enable --now --quiet {{socketUnit}}
forget_previous
