import type { Monitoring } from "../schema/monitoring";
import type { HostFile } from "./files";
import type { ResolvedServer } from "./scrape-targets";
import { renderTemplate } from "./template";

/**
 * Alertmanager on the monitoring host: one route to the stack's receivers. The relay password and
 * webhook tokens go to files of their own (`*_file` settings), so alertmanager.yml holds no
 * secret and its changes show in a preview; a secret not at hand (the CLI never decrypts) leaves
 * its file out.
 */
export function renderAlertmanager(monitoring: Monitoring, server: ResolvedServer): HostFile[] {
  const configFile = server.path("/etc/prometheus/alertmanager.yml");
  const secretFile = (path: string, content: string): HostFile => ({
    path: server.path(path),
    content: `${content}\n`,
    mode: "0640",
    owner: "root:prometheus",
    secret: true,
  });
  const { email, webhooks } = monitoring.receivers;
  const files: HostFile[] = [];
  const passwordFile = "/etc/prometheus/alertmanager-smtp-password";
  if (typeof email?.password === "string") files.push(secretFile(passwordFile, email.password));
  const webhookViews = webhooks.map((webhook, index) => {
    const tokenFile = `/etc/prometheus/alertmanager-webhook-${index + 1}-token`;
    if (typeof webhook.bearerToken === "string") files.push(secretFile(tokenFile, webhook.bearerToken));
    return { url: webhook.url, tokenFile: webhook.bearerToken === undefined ? false : server.path(tokenFile) };
  });
  return [
    {
      path: configFile,
      content: renderTemplate("alertmanager/alertmanager.yml", {
        server: server.name,
        notifications: monitoring.notifications,
        email: email === undefined ? false : { ...email, passwordFile: server.path(passwordFile) },
        webhooks: webhookViews,
      }),
    },
    {
      path: server.path("/etc/default/prometheus-alertmanager"),
      content: renderTemplate("alertmanager/alertmanager.default", {
        server: server.name,
        configFile,
        dataDir: server.path("/var/lib/prometheus/alertmanager/"),
        listen: server.alertmanager,
      }),
    },
    ...files,
  ];
}
