"use strict";
// The control panel: plain DOM over the public API, so it needs no build step and ships as is.
(function () {
  const $ = (selector) => document.querySelector(selector);
  const tokenInput = $("#token");
  tokenInput.value = sessionStorage.getItem("megaweb-token") || "";
  tokenInput.addEventListener("change", () => sessionStorage.setItem("megaweb-token", tokenInput.value));

  async function api(path, options) {
    const init = { method: (options && options.method) || "GET", headers: {} };
    if (init.method !== "GET") init.headers.authorization = "Bearer " + tokenInput.value;
    if (options && options.body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    const response = await fetch(path, init);
    const body = response.status === 204 ? null : await response.json();
    if (!response.ok) throw new Error((body && body.message) || response.statusText);
    return body;
  }

  function say(text, isError) {
    const message = $("#message");
    message.textContent = text;
    message.className = isError ? "error" : "";
  }

  const format = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

  async function refreshMetrics() {
    const metrics = await api("/api/metrics/global");
    document.querySelectorAll("[data-metric]").forEach((cell) => {
      const value = metrics[cell.dataset.metric];
      cell.textContent = value === null || value === undefined ? "–" : format.format(value);
    });
  }

  async function refreshHealth() {
    const badge = $("#health");
    try {
      const response = await fetch("/api/health");
      const health = await response.json();
      badge.dataset.status = health.status;
      badge.textContent =
        "health: " + health.status + " · queue " + ((health.queue && health.queue.waiting + health.queue.prioritized + health.queue.active) || 0);
    } catch (error) {
      badge.dataset.status = "unhealthy";
      badge.textContent = "health: unreachable";
    }
  }

  const statuses = ["pending", "active", "paused", "terminated", "failed"];
  $("#legend").replaceChildren(
    ...statuses.map((status) => {
      const item = document.createElement("span");
      item.className = "legend-" + status;
      item.textContent = status;
      return item;
    }),
  );

  async function refreshGrid() {
    const grid = await api("/api/hypergrid?limit=1000");
    $("#grid-summary").textContent = format.format(grid.total_sessions) + " sessions in " + grid.tile_count + " tiles of " + grid.tile_size;
    $("#hypergrid").replaceChildren(
      ...grid.tiles.map((tile) => {
        const cell = document.createElement("div");
        cell.className = "tile";
        cell.dataset.status = tile.dominant_status;
        cell.style.opacity = String(0.35 + 0.65 * Math.min(1, tile.count / grid.tile_size));
        cell.title =
          "tile " + tile.tile + ": " + tile.count + " sessions, mostly " + tile.dominant_status + (tile.dominant_country ? ", " + tile.dominant_country : "");
        return cell;
      }),
    );
  }

  async function refreshProxies() {
    const proxies = await api("/api/proxies?limit=50");
    $("#proxies tbody").replaceChildren(
      ...proxies.map((proxy) => {
        const row = document.createElement("tr");
        row.dataset.status = proxy.status;
        const cells = [
          proxy.protocol + "://" + proxy.host + ":" + proxy.port,
          proxy.status,
          format.format(proxy.success_count),
          format.format(proxy.failure_count),
          proxy.avg_latency_ms === null ? "–" : format.format(proxy.avg_latency_ms),
          format.format(proxy.assigned_replicas),
          proxy.last_checked_at ? proxy.last_checked_at.slice(11, 19) + (proxy.last_check_error ? " " + proxy.last_check_error : "") : "–",
        ];
        row.append(
          ...cells.map((text) => {
            const cell = document.createElement("td");
            cell.textContent = text;
            return cell;
          }),
        );
        return row;
      }),
    );
  }

  async function refreshEvents() {
    const events = await api("/api/events?order=desc&limit=25");
    $("#events").replaceChildren(
      ...events.map((event) => {
        const item = document.createElement("li");
        const time = document.createElement("time");
        time.textContent = event.created_at.slice(11, 19);
        const type = document.createElement("span");
        type.className = "type";
        type.textContent = event.event_type;
        const detail = document.createTextNode(" " + event.aggregate_id.slice(0, 13) + " " + JSON.stringify(event.payload).slice(0, 80));
        item.append(time, type, detail);
        return item;
      }),
    );
  }

  async function refreshAll() {
    await Promise.all(
      [refreshMetrics(), refreshHealth(), refreshGrid(), refreshProxies(), refreshEvents()].map((p) => p.catch((error) => say(error.message, true))),
    );
  }

  function onSubmit(id, handler) {
    $(id).addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await handler(new FormData(event.target));
        await refreshAll();
      } catch (error) {
        say(error.message, true);
      }
    });
  }

  onSubmit("#create-form", async (form) => {
    const session = await api("/api/sessions", {
      method: "POST",
      body: { url: form.get("url"), target_replica_count: Number(form.get("replicas")) },
    });
    say("created session " + session.id);
  });

  onSubmit("#bulk-form", async (form) => {
    const urls = String(form.get("urls")).split(/\s+/).filter(Boolean);
    const result = await api("/api/embed/bulk", {
      method: "POST",
      body: { urls, bulkOptions: { replicasPerUrl: Number(form.get("replicas")) } },
    });
    say("embedded " + result.totalProcessed + " URLs with " + result.totalReplicas + " replicas");
  });

  async function followJob(statusUrl, onProgress) {
    for (;;) {
      const job = await api(statusUrl);
      onProgress(job);
      if (job.state === "completed" || job.state === "failed") return job;
      await new Promise((resolve) => setTimeout(resolve, 500));
      refreshAll();
    }
  }

  onSubmit("#scale-form", async (form) => {
    const started = await api("/api/embed/scale-million", { method: "POST", body: { targetSessions: Number(form.get("target")) } });
    const progress = $("#scale-progress");
    const status = $("#scale-status");
    const job = await followJob(started.statusUrl, (current) => {
      const done = current.currentSessions || 0;
      progress.value = current.targetSessions ? Math.round((100 * done) / current.targetSessions) : 0;
      status.textContent = format.format(done) + " / " + format.format(current.targetSessions || started.targetSessions) + " (" + current.state + ")";
    });
    if (job.state === "failed") throw new Error("scale job failed: " + job.failedReason);
    progress.value = 100;
    say("scaled to " + format.format(job.currentSessions) + " sessions");
  });

  const clearButton = $("#clear-button");
  let armedUntil = 0;
  onSubmit("#clear-form", async () => {
    // Two clicks within 5 s: a stray click must not delete a million sessions.
    if (Date.now() > armedUntil) {
      armedUntil = Date.now() + 5000;
      clearButton.classList.add("armed");
      clearButton.textContent = "Click again to delete everything";
      return;
    }
    armedUntil = 0;
    clearButton.classList.remove("armed");
    clearButton.textContent = "Clear all sessions";
    const started = await api("/api/sessions/clear", { method: "POST" });
    const job = await followJob(started.statusUrl, (current) => {
      $("#clear-status").textContent = format.format(current.deletedSessions || 0) + " deleted (" + current.state + ")";
    });
    say("cleared " + format.format(job.deletedSessions || 0) + " sessions");
  });

  refreshAll();
  setInterval(refreshAll, 3000);
})();
