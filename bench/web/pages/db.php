<?php
// One primary-key SELECT and one Redis GET, connecting per request as most PHP applications do:
// through the services' unix sockets where the .env names them (DB_SOCKET, which Laravel prefers
// to DB_HOST, and REDIS_SOCKET), else over TCP.
$config = require dirname(__DIR__) . '/bench-config.php';
$db = empty($config['DB_SOCKET'])
    ? new mysqli($config['DB_HOST'], $config['DB_USERNAME'], $config['DB_PASSWORD'], $config['DB_DATABASE'])
    : new mysqli('localhost', $config['DB_USERNAME'], $config['DB_PASSWORD'], $config['DB_DATABASE'], 0, $config['DB_SOCKET']);
$title = $db->query('SELECT title FROM bench_items WHERE id = ' . random_int(1, 1000))->fetch_row()[0];
$redis = new Redis();
empty($config['REDIS_SOCKET']) ? $redis->connect($config['REDIS_HOST'], (int) $config['REDIS_PORT']) : $redis->connect($config['REDIS_SOCKET']);
$redis->auth($config['REDIS_PASSWORD']);
echo $title, ' ', $redis->get('bench:greeting'), "\n";
