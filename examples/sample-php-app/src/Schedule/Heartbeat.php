<?php

declare(strict_types=1);

namespace App\Schedule;

use App\Application;

/** The scheduled command: leaves a mark in Redis (the page shows it) and in the shared storage log. */
final class Heartbeat
{
    public function __invoke(Application $app): void
    {
        $now = gmdate('Y-m-d\TH:i:s\Z');
        $app->redis()->set('schedule:last_run', $now);
        file_put_contents("{$app->basePath}/storage/logs/schedule.log", "heartbeat $now\n", FILE_APPEND | LOCK_EX);
    }
}
