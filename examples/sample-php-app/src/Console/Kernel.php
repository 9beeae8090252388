<?php

declare(strict_types=1);

namespace App\Console;

use App\Application;
use App\Queue\Job;
use App\Schedule\Heartbeat;
use App\Schedule\Schedule;

/** The commands of bin/console, named as Laravel's artisan names them. */
final class Kernel
{
    /** @param list<string> $arguments */
    public static function run(Application $app, array $arguments): int
    {
        $command = $arguments[0] ?? 'list';
        return match ($command) {
            'migrate' => (new Migrator($app->database(), "{$app->basePath}/database/migrations"))->run(),
            'queue:work' => self::work($app),
            'schedule:run' => self::schedule()->runDue($app, new \DateTimeImmutable()),
            'lint' => self::lint($app->basePath),
            default => self::usage($command),
        };
    }

    /** What runs when: the app's own schedule, as Laravel's console kernel declares it. */
    private static function schedule(): Schedule
    {
        return (new Schedule())->call('heartbeat', new Heartbeat())->everyMinute();
    }

    /** Runs jobs until SIGTERM or SIGINT, finishing the one in hand first (systemd stops workers so). */
    private static function work(Application $app): int
    {
        $stopping = false;
        pcntl_async_signals(true);
        foreach ([SIGTERM, SIGINT] as $signal) {
            pcntl_signal($signal, function () use (&$stopping): void {
                $stopping = true;
            });
        }
        $queue = $app->queue();
        fwrite(STDOUT, "worker {$app->config['version']} ready in {$app->basePath}\n");
        while (!$stopping) {
            try {
                $entry = $queue->pop(1);
            } catch (\RedisException $error) {
                // A signal interrupts the blocking pop; anything else is a real failure.
                if ($stopping) {
                    break;
                }
                throw $error;
            }
            if ($entry === null) {
                continue;
            }
            $class = $entry['job'];
            if (!is_subclass_of($class, Job::class)) {
                fwrite(STDERR, "skipped job {$entry['id']}: $class is not a job\n");
                continue;
            }
            $class::fromPayload($entry['data'])->handle($app);
            fwrite(STDOUT, "ran job {$entry['id']} ($class)\n");
        }
        fwrite(STDOUT, "worker stopped\n");
        return 0;
    }

    /** Composer runs this after every autoload dump, so a build with a syntax error fails before it goes live. */
    private static function lint(string $basePath): int
    {
        $failed = 0;
        foreach (['bin', 'config', 'database', 'public', 'src'] as $directory) {
            $files = new \RecursiveIteratorIterator(new \RecursiveDirectoryIterator("$basePath/$directory", \FilesystemIterator::SKIP_DOTS));
            foreach ($files as $file) {
                if ($file->getExtension() !== 'php' && $file->getFilename() !== 'console') {
                    continue;
                }
                exec(escapeshellarg(PHP_BINARY) . ' -l ' . escapeshellarg($file->getPathname()) . ' 2>&1', $output, $status);
                if ($status !== 0) {
                    fwrite(STDERR, implode("\n", $output) . "\n");
                    $failed++;
                }
                $output = [];
            }
        }
        fwrite($failed === 0 ? STDOUT : STDERR, $failed === 0 ? "lint: no syntax errors\n" : "lint: $failed file(s) with syntax errors\n");
        return $failed === 0 ? 0 : 1;
    }

    private static function usage(string $command): int
    {
        fwrite(STDERR, "unknown command $command (migrate, queue:work, schedule:run, lint)\n");
        return 1;
    }
}
