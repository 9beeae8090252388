# {{domain}} left the config, or kept no workers and no schedule: every unit it had here stops and goes.
if [ -f {{manifest}} ]; then
  while read -r entry unit; do
    if [ "$entry" = instance ]; then
      systemctl disable --now "$unit" >/dev/null 2>&1 || true
    else
      case $entry in *@.service) ;; *) systemctl disable --now "$(basename "$entry")" >/dev/null 2>&1 || true ;; esac
      rm -f "$entry"
    fi
  done <{{manifest}}
  rm -f {{manifest}}
  systemctl daemon-reload
fi
