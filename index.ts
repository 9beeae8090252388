/**
 * megaweb's public API: the stack config schema, the pure planners and renderers, and the
 * Pulumi components built on them.
 */

// Config: one schema, validated once at the edge.
export { parseStack, Stack, stackInputFromConfig, type StackInput } from "./lib/schema/stack";
export { Site, siteSlug, type SiteInput, type PhpVersion, type WebServer, type SiteKind, phpVersions, webServers, siteKinds } from "./lib/schema/site";
export { App, type AppInput } from "./lib/schema/app";
export { Infrastructure, type InfrastructureInput, type Phase, type Role, type Target, type SecretRef } from "./lib/schema/infrastructure";
export { ConfigError, formatProblem, type Problem } from "./lib/schema/errors";

// Pure planning and rendering.
export { planTopology, PlanError, type TopologyPlan, type PlannedHost } from "./lib/plan/topology";
export { planSteps, type StepPlan, type StepPlanner } from "./lib/steps/plan";
export type { PlannedStep, CommandStep, UploadStep, RenderedStep, DeployFacts, DeployInput } from "./lib/steps/step";
export { type ClusterSecret, secretPlaceholder } from "./lib/plan/cluster";
export {
  renderWebHost,
  allFiles,
  webHostPackages,
  type HostFile,
  type HostDirectory,
  type SiteRender,
  type WebHostRender,
  type WebHostConfig,
} from "./lib/render/files";
export { resolveWebHost, unixUserName, type HostFacts, type HostPorts, type SiteContext, type HostContext } from "./lib/render/context";
export { phpBudget, sizePools, type PhpBudget, type PoolSize } from "./lib/render/pool-sizing";

// Pulumi components.
export type { Host } from "./components/host";
export * from "./components/phases";
export { Provisioning, type ProvisioningArgs } from "./components/provision/provisioning";
export { Orchestrator, type OrchestratorArgs } from "./components/app/orchestrator";
