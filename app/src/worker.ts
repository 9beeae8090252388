import { scheduleHousekeeping, startWorker } from "./jobs";
import { loadConfig } from "./config";
import { migrate } from "./migrate";
import { connectRedis } from "./redis";
import { openServices } from "./open-services";
import { ensureTiles } from "./summaries";

/** The worker process: the reconciler, bulk jobs and metrics housekeeping from the queue. */
async function main() {
  const config = loadConfig();
  await migrate(config.MEGAWEB_DB_URL);
  const services = openServices(config);
  await ensureTiles(services.db.primary, config.MEGAWEB_HYPERGRID_TILE_SIZE);
  await scheduleHousekeeping(services);
  const workerConnection = connectRedis(config, "queue");
  const worker = startWorker(services, workerConnection);
  worker.on("failed", (job, error) => console.error(`job ${job?.name} ${job?.id} failed: ${error.message}`));
  const stop = async () => {
    // close() lets running jobs finish so a restart never abandons a half-written batch.
    await worker.close();
    workerConnection.disconnect();
    await services.close();
    process.exit(0);
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  console.log(`worker started, concurrency ${config.MEGAWEB_WORKER_CONCURRENCY}`);
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
