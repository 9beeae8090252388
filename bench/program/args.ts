/** What `npm run bench:program` measures, from its environment; a wrong value stops it before any work. */
export interface ProgramBenchArgs {
  readonly sections: readonly ("scale" | "provisioning")[];
  /** Site counts for the scale section, ascending. */
  readonly sites: readonly number[];
  readonly rounds: number;
}

const sectionNames = ["scale", "provisioning"] as const;

export function parseBenchArgs(env: Record<string, string | undefined>): ProgramBenchArgs {
  const sections = (env.BENCH_PROGRAM_SECTIONS ?? sectionNames.join(",")).split(",");
  for (const section of sections) {
    if (!(sectionNames as readonly string[]).includes(section)) {
      throw new Error(`BENCH_PROGRAM_SECTIONS: "${section}" is not one of ${sectionNames.join(", ")}`);
    }
  }
  const sites = (env.BENCH_PROGRAM_SITES ?? "10,100,1000").split(",").map(Number);
  if (
    sites.length < 2 ||
    sites.some((count) => !Number.isInteger(count) || count < 1) ||
    sites.some((count, index) => index > 0 && count <= sites[index - 1]!)
  ) {
    throw new Error(`BENCH_PROGRAM_SITES: "${env.BENCH_PROGRAM_SITES}" must be two or more ascending whole numbers of sites, such as 10,100,1000`);
  }
  const rounds = Number(env.BENCH_PROGRAM_ROUNDS ?? 3);
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new Error(`BENCH_PROGRAM_ROUNDS: "${env.BENCH_PROGRAM_ROUNDS}" must be a whole number of rounds, at least 1`);
  return { sections: sections as ProgramBenchArgs["sections"], sites, rounds };
}
