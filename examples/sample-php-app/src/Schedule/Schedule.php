<?php

declare(strict_types=1);

namespace App\Schedule;

use App\Application;

/** Tasks and when they are due; schedule:run, started each minute, runs the ones due now. */
final class Schedule
{
    /** @var array<string, array{task: callable(Application): void, due: callable(\DateTimeImmutable): bool}> */
    private array $tasks = [];
    private ?string $last = null;

    /** @param callable(Application): void $task */
    public function call(string $name, callable $task): self
    {
        $this->tasks[$name] = ['task' => $task, 'due' => static fn (): bool => true];
        $this->last = $name;
        return $this;
    }

    public function everyMinute(): self
    {
        return $this->when(static fn (): bool => true);
    }

    public function hourly(): self
    {
        return $this->when(static fn (\DateTimeImmutable $now): bool => $now->format('i') === '00');
    }

    public function runDue(Application $app, \DateTimeImmutable $now): int
    {
        foreach ($this->tasks as $name => $entry) {
            if (($entry['due'])($now)) {
                ($entry['task'])($app);
                fwrite(STDOUT, "ran scheduled $name\n");
            }
        }
        return 0;
    }

    /** @param callable(\DateTimeImmutable): bool $due */
    private function when(callable $due): self
    {
        $this->tasks[$this->last ?? throw new \LogicException('call() a task first')]['due'] = $due;
        return $this;
    }
}
