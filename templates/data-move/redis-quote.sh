# Arguments for redis-cli's stdin, quoted its way, so no secret or odd key needs a command line.
quote() { sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$/"/'; }
