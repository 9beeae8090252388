# The orchestrator's environment (database and Redis credentials, the API token), from stdin: never
# in a command string, a log or a preview. Units already running restart to read it; if they do
# not come up with it, the previous file is put back.
{{> units}}

put_file {{path}} {{mode}} {{owner}} </dev/stdin
if was_replaced; then
  units=({{units}})
  running=()
  for unit in "${units[@]}"; do
    if systemctl is-active --quiet "$unit"; then running+=("$unit"); fi
  done
  if [ "${#running[@]}" -gt 0 ] && ! restart_orchestrator "${running[@]}"; then
    restore_files
    restart_orchestrator "${running[@]}" || true
    echo "megaweb: the orchestrator did not come up with the new environment; the previous one was put back" >&2
    exit 1
  fi
fi
forget_previous
