import { UsageError, type Io } from "./command";
import { commands } from "./commands";
import { StackFileError } from "./stack-file";

/** Runs one `megaweb` command line and returns its exit code. */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...args] = argv;
  const command = commands.find((candidate) => candidate.name === name);
  if (command === undefined) {
    const help = ["usage: megaweb <command> ...", ...commands.map((entry) => `  megaweb ${entry.name} ${entry.usage}\n      ${entry.summary}`)];
    (name === undefined || name === "--help" || name === "-h" ? io.out : io.err)(help.join("\n"));
    return name === undefined || name === "--help" || name === "-h" ? 0 : 2;
  }
  if (args[0] === "--help" || args[0] === "-h") {
    [`usage: megaweb ${command.name} ${command.usage}`, `  ${command.summary}`, ...(command.details ?? []).map((line) => `  ${line}`)].forEach((line) =>
      io.out(line),
    );
    return 0;
  }
  try {
    return await command.run(args, io);
  } catch (error) {
    if (error instanceof StackFileError) {
      error.lines.forEach((line) => io.err(line));
      return 1;
    }
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      io.err(`megaweb ${command.name}: ${(error as Error).message}\nusage: megaweb ${command.name} ${command.usage}`);
      return 2;
    }
    throw error;
  }
}
