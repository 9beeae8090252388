<?php

declare(strict_types=1);

// The front controller: every request that is not a static file arrives here (nginx try_files).
require __DIR__ . '/../vendor/autoload.php';

App\Application::boot(dirname(__DIR__))->handle(
    $_SERVER['REQUEST_METHOD'] ?? 'GET',
    (string) parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH),
);
