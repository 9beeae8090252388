# The orchestrator left this host: its units stop and go with its releases and account. Its
# database and their data stay on the MySQL primary.
units=({{units}})
systemctl disable --now "${units[@]}" >/dev/null 2>&1 || true
for unit in "${units[@]}"; do rm -f "/etc/systemd/system/$unit"; done
systemctl daemon-reload
rm -rf {{releases}}
find {{uploadDir}} -maxdepth 1 -name '{{uploadPattern}}' -delete
if id -u {{user}} >/dev/null 2>&1; then userdel {{user}}; fi
