<?php

declare(strict_types=1);

return new class () {
    public function up(\PDO $database): void
    {
        $database->exec('CREATE TABLE greetings (id INT AUTO_INCREMENT PRIMARY KEY, text VARCHAR(100) NOT NULL)');
        $database->exec("INSERT INTO greetings (text) VALUES ('hello'), ('bonjour'), ('hallo')");
        $database->exec('CREATE TABLE job_runs (id INT AUTO_INCREMENT PRIMARY KEY, client VARCHAR(64) NOT NULL, release_path VARCHAR(255) NOT NULL, ran_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)');
    }
};
