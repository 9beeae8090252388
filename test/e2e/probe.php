<?php
// Placed by the end-to-end test (never by megaweb) to report what this site's PHP sees.
header('Content-Type: application/json');
$env = parse_ini_file(dirname(__DIR__) . '/.env');
// As an application configured by the .env connects: through a service's unix socket where it names
// one (DB_SOCKET, REDIS_SOCKET: the service runs on this host), else over TCP.
function database(array $env): mysqli
{
    return empty($env['DB_SOCKET'])
        ? new mysqli($env['DB_HOST'], $env['DB_USERNAME'], $env['DB_PASSWORD'], $env['DB_DATABASE'])
        : new mysqli('localhost', $env['DB_USERNAME'], $env['DB_PASSWORD'], $env['DB_DATABASE'], 0, $env['DB_SOCKET']);
}
function redis(array $env): Redis
{
    $redis = new Redis();
    empty($env['REDIS_SOCKET']) ? $redis->connect($env['REDIS_HOST'], (int) $env['REDIS_PORT']) : $redis->connect($env['REDIS_SOCKET']);
    $redis->auth($env['REDIS_PASSWORD']);
    return $redis;
}
// ?write=N: one insert and one Redis list push, answered 200 only once both are acknowledged, so a
// test can count acknowledged writes against what it finds later (the growth test's data moves);
// ?written=1 lists what each holds, from wherever the .env points now.
if (isset($_GET['write']) || isset($_GET['written'])) {
    try {
        $db = database($env);
        $redis = redis($env);
        if (isset($_GET['write'])) {
            $n = (int) $_GET['write'];
            $db->query('CREATE TABLE IF NOT EXISTS writes (n INT PRIMARY KEY)');
            $db->query("INSERT INTO writes VALUES ($n)");
            if ($redis->rPush('probe:writes', (string) $n) === false) throw new RuntimeException($redis->getLastError() ?? 'RPUSH refused');
            echo json_encode(['written' => $n]);
        } else {
            $rows = array_map('intval', array_column($db->query('SELECT n FROM writes')->fetch_all(), 0));
            echo json_encode(['mysql' => $rows, 'redis' => array_map('intval', $redis->lRange('probe:writes', 0, -1)), 'hosts' => [$env['DB_HOST'], $env['REDIS_HOST']], 'node' => gethostname()]);
        }
    } catch (Throwable $error) {
        http_response_code(503);
        echo json_encode(['error' => $error->getMessage()]);
    }
    exit;
}
$result = [
    'user' => posix_getpwuid(posix_geteuid())['name'],
    'memory_limit' => ini_get('memory_limit'),
    'max_execution_time' => ini_get('max_execution_time'),
    'upload_max_filesize' => ini_get('upload_max_filesize'),
    'pid' => getmypid(),
];
try {
    $db = database($env);
    $result['mysql_via'] = $db->host_info;
    $db->query('CREATE TABLE IF NOT EXISTS probe (id INT PRIMARY KEY, note VARCHAR(64))');
    $db->query("REPLACE INTO probe VALUES (1, 'written by PHP')");
    $result['mysql'] = $db->query('SELECT note FROM probe WHERE id = 1')->fetch_row()[0];
} catch (Throwable $error) {
    $result['mysql'] = 'error: ' . $error->getMessage();
}
try {
    $redis = redis($env);
    $result['redis_via'] = $redis->getHost();
    $redis->set('probe:' . $result['user'], 'written by PHP');
    $result['redis'] = $redis->get('probe:' . $result['user']);
} catch (Throwable $error) {
    $result['redis'] = 'error: ' . $error->getMessage();
}
echo json_encode($result);
