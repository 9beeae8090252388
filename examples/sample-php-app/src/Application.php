<?php

declare(strict_types=1);

namespace App;

use App\Jobs\RecordVisit;
use App\Queue\Queue;

/** The app's container: configuration, the site's own database and Redis, connected on first use. */
final class Application
{
    private ?\PDO $database = null;
    private ?\Redis $redis = null;

    /** @param array{name: string, version: string} $config */
    private function __construct(public readonly string $basePath, public readonly Env $env, public readonly array $config)
    {
    }

    public static function boot(string $basePath): self
    {
        return new self($basePath, Env::load("$basePath/.env"), require "$basePath/config/app.php");
    }

    public function database(): \PDO
    {
        return $this->database ??= new \PDO(
            sprintf('mysql:host=%s;port=%s;dbname=%s;charset=utf8mb4', $this->env->require('DB_HOST'), $this->env->get('DB_PORT', '3306'), $this->env->require('DB_DATABASE')),
            $this->env->require('DB_USERNAME'),
            $this->env->get('DB_PASSWORD', ''),
            [\PDO::ATTR_ERRMODE => \PDO::ERRMODE_EXCEPTION],
        );
    }

    /** Sites share one Redis, so every key carries the site's prefix (its database name unless REDIS_PREFIX says otherwise). */
    public function redis(): \Redis
    {
        if ($this->redis === null) {
            $redis = new \Redis();
            $redis->connect($this->env->get('REDIS_HOST', '127.0.0.1'), (int) $this->env->get('REDIS_PORT', '6379'), 2.0);
            $password = $this->env->get('REDIS_PASSWORD', '');
            if ($password !== '') {
                $redis->auth($password);
            }
            $redis->setOption(\Redis::OPT_PREFIX, $this->env->get('REDIS_PREFIX', $this->env->get('DB_DATABASE', 'sample') . ':'));
            $this->redis = $redis;
        }
        return $this->redis;
    }

    public function queue(): Queue
    {
        return new Queue($this->redis());
    }

    public function handle(string $method, string $path): void
    {
        header('Content-Type: text/html; charset=utf-8');
        match ([$method, $path]) {
            ['GET', '/'] => $this->home(),
            ['GET', '/health'] => print("ok {$this->config['version']}\n"),
            ['POST', '/jobs'] => $this->pushJob(),
            default => $this->notFound(),
        };
    }

    private function home(): void
    {
        $views = $this->redis()->incr('page_views');
        $greetings = (int) $this->database()->query('SELECT COUNT(*) FROM greetings')->fetchColumn();
        $jobs = (int) $this->database()->query('SELECT COUNT(*) FROM job_runs')->fetchColumn();
        $mark = $this->redis()->get('schedule:last_run') ?: 'not yet';
        $version = htmlspecialchars($this->config['version']);
        $name = htmlspecialchars($this->config['name']);
        echo <<<HTML
            <!doctype html>
            <title>{$name}</title>
            <h1>{$name} <span id="version">{$version}</span></h1>
            <ul>
              <li>greetings in the database: <span id="greetings">{$greetings}</span></li>
              <li>jobs run by the worker: <span id="jobs">{$jobs}</span></li>
              <li>page views counted in Redis: <span id="views">{$views}</span></li>
              <li>scheduler last ran: <span id="schedule">{$mark}</span></li>
            </ul>

            HTML;
    }

    private function pushJob(): void
    {
        $id = $this->queue()->push(new RecordVisit($_SERVER['REMOTE_ADDR'] ?? 'unknown'));
        http_response_code(202);
        echo "queued $id\n";
    }

    private function notFound(): void
    {
        http_response_code(404);
        echo "not found\n";
    }
}
