<?php

declare(strict_types=1);

namespace App\Queue;

/** A Redis list per queue, as Laravel's redis driver keeps one: RPUSH to queue, BLPOP to work. */
final class Queue
{
    public function __construct(private readonly \Redis $redis, private readonly string $name = 'default')
    {
    }

    public function push(Job $job): string
    {
        $id = bin2hex(random_bytes(8));
        $this->redis->rPush("queues:{$this->name}", json_encode(['id' => $id, 'job' => $job::class, 'data' => $job->payload()], JSON_THROW_ON_ERROR));
        return $id;
    }

    /** The next job, or null when none came within $timeout seconds. */
    public function pop(int $timeout): ?array
    {
        $entry = $this->redis->blPop(["queues:{$this->name}"], $timeout);
        return $entry === [] || $entry === false || $entry === null ? null : json_decode($entry[1], true, 512, JSON_THROW_ON_ERROR);
    }
}
