/** Where a command writes; the bin passes the process's streams, tests pass collectors. */
export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/** One `megaweb <name>` subcommand; registered in `commands/index.ts`. */
export interface Command {
  readonly name: string;
  /** `<stack file> --out DIR`, shown after the name in help. */
  readonly usage: string;
  readonly summary: string;
  /** Lines `megaweb <name> --help` prints after the usage: the flags and what they take. */
  readonly details?: readonly string[];
  /** Exit code: 0 done, 1 the config has problems (one line each on stderr), 2 misuse, 3 a check the user asked for failed (a loadtest threshold). */
  run(args: readonly string[], io: Io): Promise<number>;
}

/** Wrong arguments: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}
