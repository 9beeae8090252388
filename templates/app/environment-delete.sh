# The orchestrator left this host: its environment file goes with it.
rm -f {{path}}
