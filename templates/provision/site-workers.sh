# {{domain}}: its queue workers and scheduled commands as systemd units. What an earlier run wrote
# and the config no longer has (its manifest says what) is stopped and removed first.
previous_manifest=$(cat {{manifest}} 2>/dev/null || true)
{{{files}}}
while read -r entry unit; do
  [ -n "$entry" ] || continue
  if grep -qxF "$entry${unit:+ $unit}" {{manifest}}; then continue; fi
  if [ "$entry" = instance ]; then
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
  else
    case $entry in *@.service) ;; *) systemctl disable --now "$(basename "$entry")" >/dev/null 2>&1 || true ;; esac
    rm -f "$entry"
  fi
done <<<"$previous_manifest"
if was_replaced; then systemctl daemon-reload; fi
units=({{workerUnits}} {{timers}})
if [ ${#units[@]} -gt 0 ]; then
  systemctl enable "${units[@]}" >/dev/null 2>&1
  # Before the first deploy there is no release to run: megaweb-deploy starts the workers after
  # it, and a timer's service waits for a release itself (ConditionPathExists), so timers start now.
  if [ ! -L {{home}}/current ]; then units=({{timers}}); fi
  if [ ${#units[@]} -gt 0 ]; then
    if was_replaced; then systemctl restart "${units[@]}"; else systemctl start "${units[@]}"; fi
  fi
fi
forget_previous
