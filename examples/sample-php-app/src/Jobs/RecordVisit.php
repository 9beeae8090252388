<?php

declare(strict_types=1);

namespace App\Jobs;

use App\Application;
use App\Queue\Job;

/** Pushed by the site (POST /jobs), run by the worker: one row in job_runs per job. */
final class RecordVisit implements Job
{
    public function __construct(private readonly string $client)
    {
    }

    public function payload(): array
    {
        return ['client' => $this->client];
    }

    public static function fromPayload(array $payload): self
    {
        return new self((string) ($payload['client'] ?? 'unknown'));
    }

    public function handle(Application $app): void
    {
        $app->database()->prepare('INSERT INTO job_runs (client, release_path) VALUES (?, ?)')->execute([$this->client, $app->basePath]);
    }
}
