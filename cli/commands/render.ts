import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { allFiles } from "../../lib/render/files";
import { UsageError, type Command } from "../command";
import { loadStackFile } from "../stack-file";

export const render: Command = {
  name: "render",
  usage: "<stack file> --out DIR",
  summary: "write the files each web host would get, under DIR/<host name>/<path on the host>",
  async run(args, io) {
    const { positionals, values } = parseArgs({ args: [...args], allowPositionals: true, options: { out: { type: "string" } } });
    if (positionals.length !== 1 || values.out === undefined) throw new UsageError("expects one stack file and --out DIR");
    const { webHosts } = loadStackFile(positionals[0]!);
    for (const { host, render: rendered } of webHosts) {
      // Secret files come only from decrypted config, which the CLI never holds; skipping them keeps that true by construction.
      const files = allFiles(rendered).filter((file) => !file.secret);
      for (const file of files) {
        const target = join(values.out, host.name, file.path);
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(target, file.content);
      }
      io.out(`${host.name}: ${files.length} files`);
    }
    return 0;
  },
};
