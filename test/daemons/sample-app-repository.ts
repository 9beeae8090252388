import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Daemon, freePort, startDaemon } from "./harness";

/**
 * examples/sample-php-app as a git repository served by `git daemon` (on loopback for the daemon
 * tests, on this host's address on the machines' bridge for the end-to-end ones), with a working
 * copy that commits and pushes new versions.
 */
export class SampleAppRepository {
  /** Each version `commitVersion` committed, by its version. */
  readonly commits = new Map<string, string>();

  private constructor(
    private readonly scratch: string,
    /** The working copy. */
    readonly work: string,
    readonly url: string,
    private readonly daemon: Daemon,
  ) {}

  /** Serves the app at 1.0.0 on `listen`. */
  static async serve(listen: string): Promise<SampleAppRepository> {
    const scratch = mkdtempSync(join(tmpdir(), "megaweb-sample-app-"));
    const work = join(scratch, "work");
    cpSync(join(__dirname, "../../examples/sample-php-app"), work, { recursive: true, filter: (source) => !/\/(vendor|\.env)$/.test(source) });
    execFileSync("git", ["init", "-q", "--bare", "-b", "main", join(scratch, "sample-php-app.git")]);
    gitIn(work, ["init", "-q", "-b", "main"]);
    const port = await freePort();
    const url = `git://${listen}:${port}/sample-php-app.git`;
    const first = commitIn(scratch, "the sample app, 1.0.0", () => undefined);
    const daemon = await startDaemon(
      "git",
      ["daemon", "--reuseaddr", `--listen=${listen}`, `--port=${port}`, "--export-all", `--base-path=${scratch}`, scratch],
      { check: () => spawnSync("git", ["ls-remote", url], { stdio: "ignore" }).status === 0, awaited: "git ls-remote to answer" },
    );
    const served = new SampleAppRepository(scratch, work, url, daemon);
    served.commits.set("1.0.0", first);
    return served;
  }

  /** A new commit of whatever `change` does to the working copy, pushed to the served repository; returns its hash. */
  commit(message: string, change: (work: string) => void): string {
    return commitIn(this.scratch, message, change);
  }

  /** A new commit with `version` in config/app.php; returns its hash. */
  commitVersion(version: string): string {
    const commit = this.commit(`the sample app, ${version}`, setVersion(version));
    this.commits.set(version, commit);
    return commit;
  }

  async stop(): Promise<void> {
    await this.daemon.stop();
    rmSync(this.scratch, { recursive: true, force: true });
  }
}

/** Writes `version` into the app's config/app.php, where its page reads it. */
export const setVersion = (version: string) => (work: string) => {
  const config = join(work, "config/app.php");
  writeFileSync(config, readFileSync(config, "utf8").replace(/'version' => '[^']*'/, `'version' => '${version}'`));
};

function commitIn(scratch: string, message: string, change: (work: string) => void): string {
  const work = join(scratch, "work");
  change(work);
  gitIn(work, ["add", "-A"]);
  gitIn(work, ["commit", "-q", "-m", message]);
  gitIn(work, ["push", "-q", join(scratch, "sample-php-app.git"), "HEAD:main"]);
  return gitIn(work, ["rev-parse", "HEAD"]).trim();
}

function gitIn(work: string, args: string[]): string {
  return execFileSync("git", args, {
    cwd: work,
    encoding: "utf8",
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "megaweb test",
      GIT_AUTHOR_EMAIL: "test@megaweb.test",
      GIT_COMMITTER_NAME: "megaweb test",
      GIT_COMMITTER_EMAIL: "test@megaweb.test",
    },
  });
}

/** The sample app's page: its figures, read from their `<span id>`s. */
export interface SamplePage {
  readonly version?: string;
  readonly greetings?: number;
  readonly jobs?: number;
  readonly views?: number;
  readonly schedule?: string;
}

export function readSamplePage(body: string): SamplePage {
  const field = (id: string) => new RegExp(`<span id="${id}">([^<]*)</span>`).exec(body)?.[1];
  const number = (id: string) => (field(id) === undefined ? undefined : Number(field(id)));
  return { version: field("version"), greetings: number("greetings"), jobs: number("jobs"), views: number("views"), schedule: field("schedule") };
}
