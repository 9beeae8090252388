import { cronCalendar, type ScheduledCommand, type SiteWorker } from "../schema/deploy";
import type { Site } from "../schema/site";
import type { HostContext, SiteContext } from "./context";
import type { HostFile } from "./files";
import { renderTemplate } from "./template";

/**
 * A site's queue workers and scheduled commands as systemd units, run as the site's user in its
 * live release (`current`):
 * - per worker a template unit `megaweb-worker-<user>_<name>@.service`, instances `@1`…`@N` for
 *   its processes; megaweb-deploy restarts them after each switch;
 * - per scheduled command `megaweb-schedule-<user>_<name>.service` and a `.timer` with the cron
 *   expression as `OnCalendar=`.
 * `_` joins user and name because worker names cannot hold one while user names may hold `-`,
 * so no two sites' units can share a name.
 */

export interface SiteWorkersRender {
  readonly domain: string;
  /** The site's home: units start only once `<home>/current` exists. */
  readonly home: string;
  readonly files: readonly HostFile[];
  /** Every worker instance, `megaweb-worker-<user>_<name>@<n>.service`: enabled, and restarted by each deploy. */
  readonly workerUnits: readonly string[];
  /** Every schedule's timer, enabled and started. */
  readonly timers: readonly string[];
  /** Lists the unit files this site has on the host, so the next step run can remove the ones it no longer renders. */
  readonly manifest: string;
}

export interface WorkerHostRole {
  /**
   * Whether this host runs the site's scheduled commands. Timers on several hosts would each run
   * them, so the plan gives them to one worker host.
   * @default true
   */
  readonly schedule?: boolean;
}

export function renderSiteWorkers(site: Site, context: SiteContext, host: HostContext, role: WorkerHostRole = {}): SiteWorkersRender {
  const unitDir = host.path("/etc/systemd/system");
  const base = { domain: site.domain, user: context.account.user, group: context.account.group, home: context.home };
  const files: HostFile[] = [];
  const workerUnits: string[] = [];
  for (const worker of site.workers) {
    const prefix = workerUnitPrefix(context, worker);
    files.push({ path: `${unitDir}/${prefix}@.service`, content: renderTemplate("systemd/megaweb-site-worker@.service", workerView(worker, prefix, base)) });
    for (let instance = 1; instance <= worker.processes; instance++) workerUnits.push(`${prefix}@${instance}.service`);
  }
  const timers: string[] = [];
  for (const command of role.schedule === false ? [] : site.schedule) {
    const unit = `megaweb-schedule-${context.account.user}_${command.name}`;
    const view = scheduleView(command, unit, base);
    files.push(
      { path: `${unitDir}/${unit}.service`, content: renderTemplate("systemd/megaweb-site-schedule.service", view) },
      { path: `${unitDir}/${unit}.timer`, content: renderTemplate("systemd/megaweb-site-schedule.timer", view) },
    );
    timers.push(`${unit}.timer`);
  }
  return { domain: site.domain, home: context.home, files, workerUnits, timers, manifest: host.path(`/etc/megaweb/deploy/${context.slug}.units`) };
}

export function workerUnitPrefix(context: SiteContext, worker: Pick<SiteWorker, "name">): string {
  return `megaweb-worker-${context.account.user}_${worker.name}`;
}

interface UnitBase {
  readonly domain: string;
  readonly user: string;
  readonly group: string;
  readonly home: string;
}

function workerView(worker: SiteWorker, unitPrefix: string, base: UnitBase) {
  return {
    ...base,
    name: worker.name,
    processes: worker.processes,
    unitPrefix,
    execStart: execStart(worker.command),
    restart: worker.restart,
    restartDelay: "3s",
    stopTimeout: worker.stopTimeout,
  };
}

function scheduleView(command: ScheduledCommand, unit: string, base: UnitBase) {
  const converted = cronCalendar(command.cron);
  // The schema refused every expression this cannot convert.
  if ("error" in converted) throw new Error(converted.error);
  return {
    ...base,
    name: command.name,
    cron: command.cron,
    calendar: converted.calendar,
    unit,
    execStart: execStart(command.command),
    timeout: command.timeout,
  };
}

/**
 * A command line as `ExecStart=`. Plain words (`php artisan queue:work --tries=3`) run as they
 * are, so the unit's main process is the command itself and gets systemd's SIGTERM directly;
 * anything a shell must read (`&&`, `>`, quotes, `$`) runs under `/bin/sh -c`, quoted the way
 * systemd unquotes: `\` and `"` escaped, `$` and `%` doubled so systemd leaves them to the shell.
 */
export function execStart(command: string): string {
  const words = command.trim().split(/\s+/);
  if (words.every((word) => /^[A-Za-z0-9_./:=@+,-]+$/.test(word))) return words.join(" ");
  const quoted = command.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\$/g, "$$$$").replace(/%/g, "%%");
  return `/bin/sh -c "${quoted}"`;
}

/**
 * The body of a host's workers step for one site (`templates/provision/site-workers.sh`): writes
 * the units, removes the ones an earlier run wrote that are gone from the config, and starts what
 * has code to run. `writeFiles` renders `put_file` calls, as the other steps write files.
 */
export function renderSiteWorkersStep(render: SiteWorkersRender, writeFiles: (files: readonly HostFile[]) => string): string {
  return renderTemplate("provision/site-workers.sh", {
    domain: render.domain,
    files: writeFiles([...render.files, { path: render.manifest, content: manifestOf(render) }]),
    manifest: render.manifest,
    workerUnits: render.workerUnits.join(" "),
    timers: render.timers.join(" "),
    home: render.home,
  });
}

/** The body of the step's `delete`: every unit the site has on the host stops and goes. */
export function renderSiteWorkersDeleteStep(render: SiteWorkersRender): string {
  return renderTemplate("provision/site-workers-delete.sh", { domain: render.domain, manifest: render.manifest });
}

/**
 * In the order things must stop: instances before their template goes, a timer before its
 * service, so each `disable --now` still finds its unit file.
 */
function manifestOf(render: SiteWorkersRender): string {
  const timersFirst = [...render.files].sort((a, b) => Number(b.path.endsWith(".timer")) - Number(a.path.endsWith(".timer")));
  return [...render.workerUnits.map((unit) => `instance ${unit}`), ...timersFirst.map((file) => file.path)].join("\n") + "\n";
}
