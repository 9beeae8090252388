import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { UsageError, type Command } from "../command";
import { loadStackFile } from "../stack-file";

export const render: Command = {
  name: "render",
  usage: "<stack file> --out DIR",
  summary: "write every file each host would get, under DIR/<host name>/<path on the host>; secrets as placeholders",
  async run(args, io) {
    const { positionals, values } = parseArgs({ args: [...args], allowPositionals: true, options: { out: { type: "string" } } });
    if (positionals.length !== 1 || values.out === undefined) throw new UsageError("expects one stack file and --out DIR");
    // Rendering never sees a secret's value: secret files hold their placeholders (<secret:redis>).
    const { files } = loadStackFile(positionals[0]!);
    for (const [host, hostFiles] of files) {
      for (const file of hostFiles) {
        const target = join(values.out, host, file.path);
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(target, file.content, { mode: file.secret ? 0o600 : 0o644 });
      }
      io.out(`${host}: ${hostFiles.length} files`);
    }
    return 0;
  },
};
