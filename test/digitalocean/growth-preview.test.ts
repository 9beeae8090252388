import { randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planOf, type Preview, type Workspace } from "../engine/pulumi";
import { stackConfig } from "../phases/fixtures";
import { type Deployment, deploy, installMocks } from "../phases/mocks";
import { digitalOceanSettings, digitalOceanWorkspace, writeDigitalOceanStack } from "./stack-config";

/**
 * Phase growth under the real DigitalOcean provider. Offline there is no `pulumi up`, so the state
 * a deployed stack would have is recorded instead: each resource's inputs as the real provider's
 * Check completes them (a preview), with the values only the API could know (ids, addresses,
 * URNs) taken from a run of the same program under Pulumi mocks that answer as DigitalOcean would
 * (test/phases/mocks.ts). That is written as a `pulumi stack export` deployment and brought in
 * with `pulumi stack import`; the provider's Diff then runs for real against it. Provisioning steps are left out of it,
 * so they preview as creates; the droplets are what must not be replaced.
 */

const droplet = "digitalocean:index/droplet:Droplet";
/**
 * Resources whose Terraform schema is past version 0 (`SchemaVersion` in the upstream provider).
 * The bridge keeps the version in state under `__meta`; a state without it is upgraded from 0,
 * and the load balancer's 0 → 1 upgrade panics on a state that was never 0.
 */
const schemaVersions: Record<string, string> = { [droplet]: "1", "digitalocean:index/loadBalancer:LoadBalancer": "1" };
const project = "megaweb";
const stack = "test";
/** The program names its phase component after the stack (stacks/index.ts). */
const phaseName = `megaweb-${stack}`;
const stackUrn = `urn:pulumi:${stack}::${project}::pulumi:pulumi:Stack::${project}-${stack}`;

let phases: typeof import("../../components/phases");

/** What a deployment of these infrastructure keys would leave in state, as the mock provider answers. */
async function mockRun(infrastructure: Record<string, unknown>): Promise<Deployment> {
  const { sites, ...rest } = digitalOceanSettings(infrastructure);
  const config = stackConfig(rest, sites as unknown[]);
  return deploy(() => phases.phaseComponent(phaseName, { config, sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----" }));
}

/** What the engine shows for a value only known once the resource exists. */
const unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** `checked` with every unknown in it replaced by what the mock provider answered at the same place. */
function withKnownValues(checked: unknown, answered: unknown): unknown {
  if (checked === unknown) return answered;
  if (Array.isArray(checked)) return checked.map((each, index) => withKnownValues(each, (answered as unknown[] | undefined)?.[index]));
  if (checked !== null && typeof checked === "object") {
    return Object.fromEntries(
      Object.entries(checked).map(([key, value]) => [key, withKnownValues(value, (answered as Record<string, unknown> | undefined)?.[key])]),
    );
  }
  return checked;
}

/**
 * The DigitalOcean resources of a run and the components above them, as a deployment's resource
 * list: components before their children, a default provider per package before its resources.
 * `checkedInputs` are the inputs per URN as the provider's Check completed them in a preview.
 */
function recordedResources(run: Deployment, checkedInputs: ReadonlyMap<string, Record<string, unknown>>): Record<string, unknown>[] {
  const prefix = `urn:pulumi:${stack}::${project}::`;
  const providerUrn = `${prefix}pulumi:providers:digitalocean::default_4_80_1`;
  const providerId = randomUUID();
  // The mock monitor qualifies a child's type with its parent's type only; the engine qualifies
  // it with every ancestor's, so URNs are made again from the parents down.
  const engineUrns = new Map<string, string>();
  for (const each of run.registrations) {
    const parent = engineUrns.get(each.parentUrn);
    const qualifiedType = parent === undefined ? each.type : `${parent.slice(prefix.length).split("::")[0]}$${each.type}`;
    engineUrns.set(each.urn, `${prefix}${qualifiedType}::${each.name}`);
  }
  const urnOf = (mockUrn: string) => engineUrns.get(mockUrn) ?? stackUrn;
  const kept = run.registrations.filter((each) => each.type.startsWith("digitalocean:") || each.type.startsWith("megaweb:"));
  const inputsOf = (urn: string, answered: Record<string, unknown>) => {
    const checked = checkedInputs.get(urn);
    if (checked === undefined) throw new Error(`the preview planned no ${urn}`);
    return withKnownValues(checked, answered) as Record<string, unknown>;
  };
  return [
    { urn: stackUrn, custom: false, type: "pulumi:pulumi:Stack" },
    { urn: providerUrn, custom: true, id: providerId, type: "pulumi:providers:digitalocean", inputs: { version: "4.80.1" }, outputs: { version: "4.80.1" } },
    ...kept.map((each) =>
      each.type.startsWith("digitalocean:")
        ? {
            urn: urnOf(each.urn),
            custom: true,
            id: each.id,
            type: each.type,
            inputs: inputsOf(urnOf(each.urn), each.inputs),
            outputs: {
              ...each.state,
              ...inputsOf(urnOf(each.urn), each.inputs),
              id: each.id,
              ...(schemaVersions[each.type] && { __meta: JSON.stringify({ schema_version: schemaVersions[each.type] }) }),
            },
            parent: urnOf(each.parentUrn),
            provider: `${providerUrn}::${providerId}`,
          }
        : { urn: urnOf(each.urn), custom: false, type: each.type, parent: urnOf(each.parentUrn) },
    ),
  ];
}

/** Imports the state a deployment of `infrastructure` would have left; the stack file must hold the same settings. */
async function importRecordedState(workspace: Workspace, infrastructure: Record<string, unknown>): Promise<void> {
  const exported = JSON.parse((await workspace.pulumi(["stack", "export"])).stdout);
  exported.deployment.resources = [];
  await importDeployment(workspace, exported);
  const preview = await workspace.preview();
  const checked = new Map(preview.steps.flatMap((step) => (step.newState?.inputs ? [[step.urn, step.newState.inputs]] : [])));
  exported.deployment.resources = recordedResources(await mockRun(infrastructure), checked);
  await importDeployment(workspace, exported);
}

async function importDeployment(workspace: Workspace, deployment: unknown): Promise<void> {
  const file = join(workspace.dir, "recorded-state.json");
  await writeFile(file, JSON.stringify(deployment));
  await workspace.pulumi(["stack", "import", "--file", file]);
}

/** `op name` of every droplet step. */
function dropletSteps(preview: Preview): string[] {
  return preview.steps.filter((step) => (step.newState?.type ?? step.oldState?.type) === droplet).map((step) => `${step.op} ${step.urn.split("::").at(-1)}`);
}

describe("phase growth under the real DigitalOcean provider, from a recorded state", { timeout: 600_000 }, () => {
  let workspace: Workspace;

  beforeAll(async () => {
    await installMocks();
    phases = await import("../../components/phases");
    workspace = await digitalOceanWorkspace();
  });

  afterAll(async () => {
    await workspace?.remove();
  });

  it("the recorded single box previews as unchanged: the provider finds nothing to do to its droplet", async () => {
    await writeDigitalOceanStack(workspace, { phase: "single" });
    await importRecordedState(workspace, { phase: "single" });
    const preview = await workspace.preview(["--show-sames"]);
    const cloud = planOf(preview).filter((step) => step.includes(" digitalocean:"));
    expect(cloud.length).toBeGreaterThan(0);
    for (const step of cloud) expect(step).toMatch(/^same /);
  });

  it("single → four-server keeps the single box's droplet as web-1, changing only its tags, and adds three", async () => {
    await writeDigitalOceanStack(workspace, { phase: "four-server" });
    const preview = await workspace.preview(["--show-sames"]);
    expect(dropletSteps(preview).sort()).toEqual([
      "create megaweb-test-mysql-1",
      "create megaweb-test-redis-1",
      "create megaweb-test-worker-1",
      "update megaweb-test-web-1",
    ]);
    const web = preview.steps.find((step) => step.urn.endsWith("::megaweb-test-web-1") && step.op === "update");
    expect(web?.diffReasons).toEqual(["tags"]);
    expect(planOf(preview).filter((step) => /^(delete|replace|create-replacement)/.test(step))).toEqual([]);
  });

  it("3 → 5 web nodes adds two droplets and leaves the three that exist as they are", async () => {
    await writeDigitalOceanStack(workspace, { phase: "horizontal", nodes: { web: 3 } });
    await importRecordedState(workspace, { phase: "horizontal", nodes: { web: 3 } });
    await writeDigitalOceanStack(workspace, { phase: "horizontal", nodes: { web: 5 } });
    const preview = await workspace.preview(["--show-sames"]);
    const webSteps = dropletSteps(preview).filter((step) => step.includes("-web-"));
    expect(webSteps.sort()).toEqual([
      "create megaweb-test-web-4",
      "create megaweb-test-web-5",
      "same megaweb-test-web-1",
      "same megaweb-test-web-2",
      "same megaweb-test-web-3",
    ]);
    expect(planOf(preview).filter((step) => /^(delete|replace|create-replacement)/.test(step))).toEqual([]);
  });
});
