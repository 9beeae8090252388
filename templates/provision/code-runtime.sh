# A worker host runs the code of sites it does not serve: their PHP's command line with its
# extensions, and what megaweb-deploy calls (git, composer, redis-cli, curl). No web server.
{{{phpRepository}}}
apt_install_stopped {{packages}}
forget_previous
