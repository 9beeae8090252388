import { ApiError, parseInput } from "./errors";
import { MAX_REPLICAS_PER_REQUEST } from "./limits";
import { bulkUrlSchema, type BulkEmbedRequest, type SessionSpec } from "./schemas";
import { createSessionBatch } from "./sessions";
import type { Services } from "./services";

export interface RefusedUrl {
  index: number;
  url: unknown;
  error: string;
}

/** The first edition's answer: every URL is either created (its id in order) or listed in `failed` with the reason. */
export interface BulkEmbedResult {
  totalProcessed: number;
  totalCreated: number;
  createdSessionIds: string[];
  totalReplicas: number;
  failed: RefusedUrl[];
}

/**
 * Creates a session per good URL in one transaction with one `session.bulk_created` event, and refuses the
 * others one by one: a URL that is not http(s), or one past the replicas a single request may create.
 */
export async function embedBulk(services: Services, bulk: BulkEmbedRequest): Promise<BulkEmbedResult> {
  const { replicasPerUrl } = bulk.bulkOptions;
  const accepted: string[] = [];
  const failed: RefusedUrl[] = [];
  bulk.urls.forEach((url, index) => {
    try {
      const checked = parseInput(bulkUrlSchema, url, `urls[${index}]`);
      if ((accepted.length + 1) * replicasPerUrl > MAX_REPLICAS_PER_REQUEST) {
        failed.push({
          index,
          url,
          error: `urls[${index}]: over the limit of ${MAX_REPLICAS_PER_REQUEST} replicas per request at ${replicasPerUrl} per URL; use /api/embed/scale-million`,
        });
      } else {
        accepted.push(checked);
      }
    } catch (error) {
      failed.push({ index, url, error: (error as ApiError).message });
    }
  });
  const specs: SessionSpec[] = accepted.map((url) => ({
    url,
    target_replica_count: replicasPerUrl,
    region: bulk.bulkOptions.region,
    proxy_pool_id: bulk.bulkOptions.proxyPoolId,
    rendering_options: bulk.renderingOptions,
    proxy_requirements: bulk.proxyRequirements,
  }));
  const ids = specs.length
    ? await createSessionBatch(services, specs, "session.bulk_created", { source: "embed", urls: bulk.urls.length, failed: failed.length })
    : [];
  return {
    totalProcessed: bulk.urls.length,
    totalCreated: ids.length,
    createdSessionIds: ids,
    totalReplicas: ids.length * replicasPerUrl,
    failed,
  };
}
