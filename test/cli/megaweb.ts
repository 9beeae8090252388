import { runCli } from "../../cli/run";

/** Runs one `megaweb` command line in this process and collects what it prints and its exit code. */
export async function megaweb(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out, err };
}
