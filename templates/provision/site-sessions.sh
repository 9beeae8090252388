# {{domain}}: its PHP sessions in Redis, shared by every web node. The file holds the Redis
# password: it arrives on stdin, and only root reads it (the site's FPM master, before it drops to
# the site's user).
put_file {{path}} 0600 root:root </dev/stdin
if was_replaced && systemctl is-active --quiet {{unit}}; then
  checked php-fpm{{phpVersion}} -t --fpm-config {{master}}
  systemctl reload {{unit}}
fi
forget_previous
