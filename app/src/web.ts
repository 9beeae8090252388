import { loadConfig } from "./config";
import { migrate } from "./migrate";
import { openServices } from "./open-services";
import { ensureTiles } from "./summaries";
import { buildServer } from "./server";

/** The web process: migrations under their lock, then the API and the control panel. */
async function main() {
  const config = loadConfig();
  await migrate(config.MEGAWEB_DB_URL);
  const services = openServices(config);
  await ensureTiles(services.db.primary, config.MEGAWEB_HYPERGRID_TILE_SIZE);
  const app = await buildServer(services);
  const stop = async () => {
    await app.close();
    await services.close();
    process.exit(0);
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  await app.listen({ port: config.PORT, host: config.HOST });
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
