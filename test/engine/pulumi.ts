import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const repoRoot = resolve(import.meta.dirname, "../..");

/** Where scripts/setup/30-engine.sh links `pulumi`, the language host and the plugins. */
export const engineBin = join(process.env.MEGAWEB_CACHE ?? "/var/cache/megaweb", "bin");

/** One step of `pulumi preview --json`. */
export interface PreviewStep {
  op: "same" | "create" | "update" | "replace" | "create-replacement" | "delete-replaced" | "delete" | "read";
  urn: string;
  newState?: { type: string; inputs?: Record<string, unknown> };
  oldState?: { type: string };
  diffReasons?: string[];
  replaceReasons?: string[];
  detailedDiff?: Record<string, { kind: string; inputDiff?: boolean }>;
}

export interface Preview {
  steps: PreviewStep[];
  changeSummary: Record<string, number>;
  diagnostics?: { message: string; severity: string }[];
}

/**
 * A throw-away Pulumi workspace: its own file backend, PULUMI_HOME and passphrase, and a copy of
 * the program so stack files never land in the repo. The copy sees the repo's node_modules
 * through a symlink, so the program loads the one installed @pulumi/pulumi.
 */
export class Workspace {
  private constructor(
    readonly dir: string,
    readonly programDir: string,
    readonly stack: string,
    /** The stack file, when it lives outside the program's stackConfigDir. */
    readonly configFile?: string,
  ) {}

  static async create(program: string, stack = "test"): Promise<Workspace> {
    const dir = await workspaceDir();
    const programDir = join(dir, "program");
    await cp(program, programDir, { recursive: true });
    await symlink(join(repoRoot, "node_modules"), join(programDir, "node_modules"));
    return new Workspace(dir, programDir, stack).init(["stack", "init"]);
  }

  /**
   * The repo's own program (Pulumi.yaml at the root, main: stacks/index.ts) on a copy of a stack file.
   * The stack is created from a scratch project whose stack files live in the workspace, so the
   * passphrase salt Pulumi writes on creation never touches the committed stack files.
   */
  static async forRepoProgram(stackFile: string, stack = "test"): Promise<Workspace> {
    const dir = await workspaceDir();
    const configFile = join(dir, `Pulumi.${stack}.yaml`);
    await cp(stackFile, configFile);
    const project = (await readFile(join(repoRoot, "Pulumi.yaml"), "utf8")).match(/^name:\s*(\S+)/m)?.[1];
    await mkdir(join(dir, "project"));
    await writeFile(join(dir, "project/Pulumi.yaml"), `name: ${project}\nruntime: nodejs\nstackConfigDir: ..\n`);
    return new Workspace(dir, repoRoot, stack, configFile).init(["stack", "init", "--cwd", join(dir, "project")]);
  }

  /** Creates the stack; a workspace whose stack cannot be created is removed, as no test will. */
  private async init(args: string[]): Promise<Workspace> {
    try {
      await this.pulumi(args);
      return this;
    } catch (error) {
      await this.remove();
      throw error;
    }
  }

  get env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PATH: `${engineBin}:${process.env.PATH}`,
      PULUMI_HOME: join(this.dir, "home"),
      PULUMI_BACKEND_URL: `file://${join(this.dir, "state")}`,
      PULUMI_CONFIG_PASSPHRASE: "engine-test-only",
      PULUMI_SKIP_UPDATE_CHECK: "true",
      // Fail at once instead of trying to download a plugin that is not on PATH.
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    };
  }

  /** Runs pulumi in the program directory; rejects with its output when it exits non-zero. */
  pulumi(args: string[], stdin?: string): Promise<{ stdout: string; stderr: string }> {
    const readsConfig = ["config", "preview", "up", "refresh", "destroy"].includes(args[0] ?? "");
    const configArgs = this.configFile && readsConfig ? ["--config-file", this.configFile] : [];
    const fullArgs = [...args, ...configArgs, "--non-interactive", "--stack", this.stack];
    return new Promise((resolve, reject) => {
      const child = spawn("pulumi", fullArgs, { cwd: this.programDir, env: this.env });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk) => (stdout += chunk));
      child.stderr.on("data", (chunk) => (stderr += chunk));
      child.once("error", reject);
      child.once("close", (code) =>
        code === 0 ? resolve({ stdout, stderr }) : reject(new Error(`pulumi ${args.join(" ")} exited ${code}:\n${stdout}\n${stderr}`)),
      );
      child.stdin.end(stdin ?? "");
    });
  }

  /** Values go in on stdin, so secrets never sit on a command line. */
  async setConfig(key: string, value: string, options: { secret?: boolean } = {}): Promise<void> {
    await this.pulumi(["config", "set", ...(options.secret ? ["--secret"] : []), key], value);
  }

  async preview(extra: string[] = []): Promise<Preview> {
    const { stdout } = await this.pulumi(["preview", "--json", ...extra]);
    return JSON.parse(stdout) as Preview;
  }

  async up(): Promise<string> {
    return (await this.pulumi(["up", "--yes", "--skip-preview"])).stdout;
  }

  async destroy(): Promise<string> {
    return (await this.pulumi(["destroy", "--yes", "--skip-preview"])).stdout;
  }

  async exportState(): Promise<string> {
    return (await this.pulumi(["stack", "export", "--show-secrets=false"])).stdout;
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function workspaceDir(): Promise<string> {
  if (!existsSync(join(engineBin, "pulumi"))) {
    throw new Error(`no pulumi in ${engineBin}: run bash scripts/setup/30-engine.sh`);
  }
  const dir = await mkdtemp(join(tmpdir(), "megaweb-engine-"));
  await mkdir(join(dir, "state"));
  return dir;
}

/** The steps of a preview as `op type name`, the shape a reader checks a plan by. */
export function planOf(preview: Preview): string[] {
  return preview.steps.map((step) => {
    const type = step.newState?.type ?? step.oldState?.type ?? "?";
    return `${step.op} ${type} ${step.urn.split("::").at(-1)}`;
  });
}
