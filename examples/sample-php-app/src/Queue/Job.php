<?php

declare(strict_types=1);

namespace App\Queue;

use App\Application;

interface Job
{
    /** @return array<string, mixed> */
    public function payload(): array;

    /** @param array<string, mixed> $payload */
    public static function fromPayload(array $payload): self;

    public function handle(Application $app): void;
}
