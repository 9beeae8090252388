import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * What a provisioning script or a certbot hook calls on a server, for a host whose daemons the
 * test started itself in a scratch root: `systemctl` (there is no systemd here) acts on those
 * daemons by their pid files, and `nginx` / `certbot` are the real binaries pointed at the
 * scratch root's config, as `-p`/`-c` and `--config-dir` would be on a server with root "".
 * Put `bin` first on PATH; everything else is the real system.
 */

export interface StandInUnit {
  readonly pidFile: string;
  /** Command line that starts the daemon in the background. */
  readonly start?: string;
  /** Command line that makes the running daemon reread its config. */
  readonly reload?: string;
}

export interface HostCommands {
  readonly bin: string;
  /** The environment to run scripts in: PATH with the stand-ins first. */
  readonly env: NodeJS.ProcessEnv;
  /** `systemctl` calls that only change boot-time state (enable, disable, daemon-reload), in order. */
  readonly bootChanges: () => string[];
}

export function hostCommands(root: string, units: Readonly<Record<string, StandInUnit>>, extraEnv: NodeJS.ProcessEnv = {}): HostCommands {
  const bin = join(root, "test-bin");
  mkdirSync(bin, { recursive: true });
  const log = join(root, "test-systemctl.log");
  writeFileSync(log, "");
  const script = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  script("nginx", `exec /usr/sbin/nginx -p ${root}/ -c ${root}/etc/nginx/nginx.conf -e ${root}/var/log/nginx/error.log "$@"`);
  script(
    "certbot",
    `exec /usr/bin/certbot --config-dir ${root}/etc/letsencrypt --work-dir ${root}/var/lib/letsencrypt --logs-dir ${root}/var/log/letsencrypt "$@"`,
  );
  const cases = Object.entries(units).map(([unit, spec]) =>
    [
      `  ${unit}|${unit}.service)`,
      `    pid=$(cat ${spec.pidFile} 2>/dev/null || true)`,
      `    running() { [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }`,
      `    case "$action" in`,
      `      show) running && echo "$pid" || echo 0 ;;`,
      `      is-active) running ;;`,
      `      reload) running && ${spec.reload ?? "false"} ;;`,
      `      start) running || ${spec.start ?? "false"} ;;`,
      `      stop) if running; then kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done; fi ;;`,
      `      restart) "$0" stop ${unit} && "$0" start ${unit} ;;`,
      `      *) echo "systemctl stand-in: $action ${unit} is not handled" >&2; exit 1 ;;`,
      `    esac ;;`,
    ].join("\n"),
  );
  script(
    "systemctl",
    [
      `case "$1" in enable|disable|mask|daemon-reload) echo "$*" >>${log}; exit 0 ;; esac`,
      // Timers only arm themselves; their services are what a test runs.
      `case "$1 \${!#}" in "start "*.timer|"restart "*.timer) echo "$*" >>${log}; exit 0 ;; esac`,
      // systemctl show -p MainPID --value UNIT, is-active --quiet UNIT, reload UNIT, ...
      `action=$1; unit=\${!#}`,
      `case "$unit" in`,
      ...cases,
      `  *) echo "systemctl stand-in: unit $unit is not one this test runs" >&2; exit 1 ;;`,
      `esac`,
    ].join("\n"),
  );
  return {
    bin,
    env: { ...process.env, ...extraEnv, PATH: `${bin}:${process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin"}` },
    bootChanges: () => readFileSync(log, "utf8").split("\n").filter(Boolean),
  };
}
