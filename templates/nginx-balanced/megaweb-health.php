<?php
// Rendered by megaweb: the load balancers' health check runs this through the site's PHP pool.
header('Content-Type: text/plain');
header('Cache-Control: no-store');
echo "php ok\n";
