import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { Host } from "../host";

export interface StepArgs {
  /** The server the step runs on. */
  readonly host: Host;
  /** The idempotent script (see `stepCommand`); a change to it re-runs it, and the diff shows the change. */
  readonly create: pulumi.Input<string>;
  /** Undoes the step when it leaves the program (a removed site). */
  readonly delete?: pulumi.Input<string>;
  /**
   * Secret input for the script's stdin. Its presence makes this a secret-only step: nothing is
   * logged and stdout/stderr are kept as secrets.
   */
  readonly secretStdin?: pulumi.Input<string>;
  readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
  /** Connection attempts before giving up; raised for the first step of a fresh server. @default 10 */
  readonly dialErrorLimit?: number;
}

/**
 * One step on one host. File contents live in `create` rather than in a hash in `triggers`: a
 * changed `create` is an in-place update that re-runs it, whereas a changed trigger replaces the
 * step, and the old step's `delete` (which removes a site) would run after the new `create`.
 * Steps die with their droplet and are re-run from scratch when it is replaced.
 */
export function remoteStep(name: string, args: StepArgs, parent: pulumi.Resource): command.remote.Command {
  const secret = args.secretStdin !== undefined;
  const connection = args.dialErrorLimit === undefined ? args.host.connection : { ...args.host.connection, dialErrorLimit: args.dialErrorLimit };
  return new command.remote.Command(
    name,
    {
      connection,
      create: args.create,
      delete: args.delete,
      stdin: secret ? pulumi.secret(args.secretStdin!) : undefined,
      logging: secret ? "none" : "stdoutAndStderr",
      // sshd refuses environment variables it does not list in AcceptEnv, and the previous output is not needed.
      addPreviousOutputInEnv: false,
    },
    {
      parent,
      dependsOn: args.dependsOn,
      additionalSecretOutputs: secret ? ["stdout", "stderr"] : [],
      deletedWith: args.host.server,
      replaceWith: args.host.server === undefined ? undefined : [args.host.server],
    },
  );
}
