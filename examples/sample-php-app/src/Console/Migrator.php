<?php

declare(strict_types=1);

namespace App\Console;

/** Runs the migrations in database/migrations that have not run yet, in name order, as Laravel's migrator does. */
final class Migrator
{
    public function __construct(private readonly \PDO $database, private readonly string $directory)
    {
    }

    public function run(): int
    {
        $this->database->exec('CREATE TABLE IF NOT EXISTS migrations (migration VARCHAR(191) PRIMARY KEY, ran_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)');
        $ran = $this->database->query('SELECT migration FROM migrations')->fetchAll(\PDO::FETCH_COLUMN);
        $files = glob("{$this->directory}/*.php") ?: [];
        sort($files);
        $count = 0;
        foreach ($files as $file) {
            $name = basename($file, '.php');
            if (in_array($name, $ran, true)) {
                continue;
            }
            $migration = require $file;
            $migration->up($this->database);
            $this->database->prepare('INSERT INTO migrations (migration) VALUES (?)')->execute([$name]);
            fwrite(STDOUT, "Migrated: $name\n");
            $count++;
        }
        if ($count === 0) {
            fwrite(STDOUT, "Nothing to migrate.\n");
        }
        return 0;
    }
}
