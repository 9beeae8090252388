if [ -d {{home}} ]; then
  install -d -m 700 /var/lib/megaweb/removed
  mv {{home}} "/var/lib/megaweb/removed/{{slug}}-$(date +%Y%m%d%H%M%S)"
fi
if id -u {{user}} >/dev/null 2>&1; then userdel {{user}}; fi
