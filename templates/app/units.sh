# Readiness of the orchestrator's units: the web process answers its health check (database and
# Redis reachable), the worker has logged that it started. A unit that is merely "active" may
# still be crash-looping on a bad environment.
orchestrator_ready() {
  local unit=$1 invocation
  case $unit in
    # 10 s: on a loaded 2-core host the first health check (MySQL primary, each replica, Redis through
    # the Sentinels) took longer than 3 s, and a client that gives up sooner never sees an answer.
    orchestrator-web.service) curl -fsS -o /dev/null --max-time 10 http://127.0.0.1:{{port}}/api/health ;;
    *)
      invocation=$(systemctl show -p InvocationID --value "$unit")
      [ -n "$invocation" ] && journalctl -q -o cat "_SYSTEMD_INVOCATION_ID=$invocation" | grep -q '^worker started'
      ;;
  esac
}

# restart_orchestrator UNIT...: restarts the units, then waits up to three minutes for each to be
# ready (a minute was not enough for the ha phase's web nodes on a loaded 2-core host); otherwise it
# prints the unit's journal (the app never logs its secrets) and returns false.
restart_orchestrator() {
  local unit now deadline
  local -A restarts=()
  for unit in "$@"; do restarts[$unit]=$(systemctl show -p NRestarts --value "$unit"); done
  systemctl restart "$@"
  for unit in "$@"; do
    deadline=$((SECONDS + 180))
    while [ "$SECONDS" -lt "$deadline" ]; do
      orchestrator_ready "$unit" && continue 2
      # systemd counted a restart after a crash (whether or not our restart zeroed the counter):
      # the release will not come up, and waiting out the deadline would not change that.
      now=$(systemctl show -p NRestarts --value "$unit")
      if [ "$now" != 0 ] && [ "$now" != "${restarts[$unit]}" ]; then break; fi
      sleep 1
    done
    echo "megaweb: $unit did not become ready; its journal:" >&2
    journalctl -q -o cat -u "$unit" -n 30 --no-pager >&2 || true
    # What the health check answers by now (its fields name services and states, never a secret).
    [ "$unit" != orchestrator-web.service ] || curl -sS --max-time 10 http://127.0.0.1:{{port}}/api/health >&2 || true
    return 1
  done
}
