# {{domain}} left the stack or Let's Encrypt: the copy {{issuer}} pushed goes too.
rm -rf {{live}}
