<?php
// One primary-key SELECT and one Redis GET, connecting per request as most PHP applications do.
$config = require dirname(__DIR__) . '/bench-config.php';
$db = new mysqli($config['DB_HOST'], $config['DB_USERNAME'], $config['DB_PASSWORD'], $config['DB_DATABASE']);
$title = $db->query('SELECT title FROM bench_items WHERE id = ' . random_int(1, 1000))->fetch_row()[0];
$redis = new Redis();
$redis->connect($config['REDIS_HOST'], (int) $config['REDIS_PORT']);
$redis->auth($config['REDIS_PASSWORD']);
echo $title, ' ', $redis->get('bench:greeting'), "\n";
