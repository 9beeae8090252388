/** What a host's facts step reports about it: every later step of the host may be rendered from it. */
export interface ServerFacts {
  /** `ID` of /etc/os-release: `debian`, `ubuntu`. */
  readonly os: string;
  /** `VERSION_CODENAME`: `bookworm`, `noble`. */
  readonly codename: string;
  readonly memoryMb: number;
  /** Cores the host's processes may run on (`nproc`): they bound the automatic PHP pools. */
  readonly cpus: number;
  /** The hard open-files limit of PID 1, which services inherit ("Max open files" in /proc/1/limits). */
  readonly openFilesLimit: number;
  /** The interface of each IPv4 address; absent from hosts whose facts were taken before it was asked. */
  readonly interfaces?: Readonly<Record<string, string>>;
}

/** The facts step prints its facts as JSON on its last line. */
export function parseFacts(stdout: string): ServerFacts {
  const facts = JSON.parse(stdout.trim().split("\n").pop() ?? "") as ServerFacts;
  if (typeof facts.memoryMb !== "number" || typeof facts.cpus !== "number" || typeof facts.openFilesLimit !== "number" || typeof facts.os !== "string")
    throw new Error(`unexpected host facts: ${stdout}`);
  return facts;
}
