<?php

declare(strict_types=1);

namespace App;

/** The site's .env (KEY=VALUE lines, as megaweb's provisioning writes them), read once. */
final class Env
{
    /** @param array<string, string> $values */
    private function __construct(private readonly array $values)
    {
    }

    public static function load(string $file): self
    {
        $values = [];
        $lines = is_readable($file) ? file($file, FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) : [];
        foreach ($lines ?: [] as $line) {
            if (preg_match('/^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/', $line, $match) !== 1) {
                continue;
            }
            $values[$match[1]] = preg_replace('/^([\'"])(.*)\1$/', '$2', trim($match[2])) ?? '';
        }
        return new self($values);
    }

    public function get(string $key, ?string $default = null): ?string
    {
        return $this->values[$key] ?? $default;
    }

    public function require(string $key): string
    {
        return $this->values[$key] ?? throw new \RuntimeException("$key is not set in the site's .env");
    }
}
