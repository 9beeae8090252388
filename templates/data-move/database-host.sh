env_file={{envFile}}
current=
# No environment file yet: a new stack, whose data was never anywhere else.
if [ -f "$env_file" ]; then current=$(sed -n 's/^{{hostVariable}}=//p' "$env_file" | tail -n 1 | tr -d "\"'"); fi
# A URL (the app's) names the host after its credentials, which are URL-encoded (no raw @ or /).
if [[ $current == *://* ]]; then
  current=${current#*://}
  current=${current##*@}
  current=${current%%[:/?]*}
fi
