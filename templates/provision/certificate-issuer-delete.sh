# One web node or no Let's Encrypt site left: {{host}} issues for itself alone.
rm -f {{files}}
rm -rf "$(dirname {{key}})"
if nginx -t -q 2>/dev/null; then systemctl reload nginx; fi
