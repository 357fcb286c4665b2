// The fleet's stand-in for OCM's governance-policy-framework-addon (its module is not served by the
// module proxy), run as one process per spoke: spec sync (replicated Policy, hub → spoke cluster
// namespace), template sync (ConfigurationPolicies owned by that Policy) and status sync (the
// config-policy-controller's compliance events → Policy status on spoke and hub), with the addon's
// objects, labels, event format and fields. Everything else of the policy framework is the real thing.
//
//   node e2e/controlplane/policy-sync.ts --cluster spoke1 --hub-kubeconfig H --spoke-kubeconfig S
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { Registry } from "prom-client";
import { z } from "zod";
import { loadKubeconfigFile, type KubeConnection } from "../../shared/kube/connection.ts";
import { RawClient, isNotFound, groupVersionPath } from "../../shared/kube/raw.ts";
import { Controller } from "../../shared/runtime/controller.ts";
import { Informer } from "../../shared/runtime/informer.ts";
import { createLogger, type Logger } from "../../shared/runtime/logger.ts";

const POLICY_API = "policy.open-cluster-management.io/v1";
/** Labels the propagator puts on replicated Policies and template sync on templates (governance-policy-propagator controllers/common). */
export const CLUSTER_NAME_LABEL = "policy.open-cluster-management.io/cluster-name";
export const CLUSTER_NAMESPACE_LABEL = "policy.open-cluster-management.io/cluster-namespace";

const metaSchema = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  ownerReferences: z.array(z.looseObject({ kind: z.string(), name: z.string(), uid: z.string() })).optional(),
  deletionTimestamp: z.string().optional(),
});
const historySchema = z.looseObject({ eventName: z.string().optional(), lastTimestamp: z.string().optional(), message: z.string().optional() });
const detailsSchema = z.looseObject({
  compliant: z.string().optional(),
  history: z.array(historySchema).optional(),
  templateMeta: z.looseObject({ name: z.string().optional() }).optional(),
});
const policySchema = z.looseObject({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: metaSchema,
  spec: z.looseObject({
    remediationAction: z.string().optional(),
    "policy-templates": z.array(z.looseObject({ objectDefinition: z.looseObject({ apiVersion: z.string(), kind: z.string(), metadata: z.looseObject({ name: z.string() }) }) })).optional(),
  }),
  status: z.looseObject({ compliant: z.string().optional(), details: z.array(detailsSchema).optional() }).optional(),
});
type Policy = z.infer<typeof policySchema>;
type PolicyStatus = NonNullable<Policy["status"]>;
type History = z.infer<typeof historySchema>;

const templateSchema = z.looseObject({ apiVersion: z.string(), kind: z.string(), metadata: metaSchema, spec: z.unknown().optional() });
type Template = z.infer<typeof templateSchema>;

const eventSchema = z.looseObject({
  metadata: metaSchema,
  involvedObject: z.looseObject({ kind: z.string().optional(), name: z.string().optional(), uid: z.string().optional() }),
  reason: z.string().optional(),
  message: z.string().optional(),
  lastTimestamp: z.string().nullable().optional(),
  eventTime: z.string().nullable().optional(),
});
type Event = z.infer<typeof eventSchema>;

/** "policy: <namespace>/<template>" — the reason config-policy-controller gives its compliance events. */
const COMPLIANCE_REASON = /^policy:\s*(?:([a-z0-9.-]+)\s*\/)?(.+)/i;

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => [k, canonical(x)]));
  }
  return v;
}

/** The template objects a Policy asks for, as template sync creates them in the Policy's namespace. */
export function desiredTemplates(policy: Policy): Template[] {
  const out: Template[] = [];
  for (const t of policy.spec["policy-templates"] ?? []) {
    const def = structuredClone(t.objectDefinition) as Template;
    const labels = def.metadata.labels ?? {};
    const policyLabels = policy.metadata.labels ?? {};
    labels["cluster-name"] = policyLabels[CLUSTER_NAME_LABEL] ?? "";
    labels[CLUSTER_NAME_LABEL] = policyLabels[CLUSTER_NAME_LABEL] ?? "";
    labels["cluster-namespace"] = policyLabels[CLUSTER_NAMESPACE_LABEL] ?? "";
    labels[CLUSTER_NAMESPACE_LABEL] = policyLabels[CLUSTER_NAMESPACE_LABEL] ?? "";
    const metadata: Template["metadata"] = {
      ...def.metadata,
      namespace: policy.metadata.namespace ?? "",
      labels,
      ownerReferences: [{ apiVersion: POLICY_API, kind: "Policy", name: policy.metadata.name, uid: policy.metadata.uid ?? "", controller: true, blockOwnerDeletion: true }],
    };
    const spec = def.spec && typeof def.spec === "object" ? { ...(def.spec as Record<string, unknown>) } : def.spec;
    // The Policy's remediationAction overrides its templates' (template sync's overrideRemediationAction).
    if (policy.spec.remediationAction && spec && typeof spec === "object") (spec as Record<string, unknown>).remediationAction = policy.spec.remediationAction.toLowerCase();
    out.push({ ...def, metadata, spec });
  }
  return out;
}

/** client-go names events <object>.<hex nanoseconds>: the most precise time there is. */
function nanosOf(eventName: string | undefined, fallback: string | undefined): bigint {
  const hex = eventName?.split(".").pop() ?? "";
  if (/^[0-9a-f]{8,}$/.test(hex)) return BigInt(`0x${hex}`);
  const ms = Date.parse(fallback ?? "");
  return Number.isNaN(ms) ? 0n : BigInt(ms) * 1_000_000n;
}

function complianceOf(message: string): "Compliant" | "Pending" | "NonCompliant" {
  const m = message.replace(/^\(combined from similar events\):/, "").trim().toLowerCase();
  if (m.startsWith("compliant")) return "Compliant";
  if (m.startsWith("pending")) return "Pending";
  return "NonCompliant";
}

/**
 * A Policy's status from the compliance events of its templates, as status sync computes it: per
 * template the newest ten distinct events (newest first), the template's state from the newest
 * message, and the Policy NonCompliant if any template is, Pending if any is, Compliant if all are.
 */
export function policyStatus(policy: Policy, events: readonly Event[]): PolicyStatus {
  const byTemplate = new Map<string, History[]>();
  for (const e of events) {
    if (e.involvedObject.uid !== policy.metadata.uid) continue;
    const m = COMPLIANCE_REASON.exec(e.reason ?? "");
    if (!m?.[2]) continue;
    const list = byTemplate.get(m[2]) ?? [];
    list.push({ eventName: e.metadata.name, lastTimestamp: e.lastTimestamp ?? e.eventTime ?? undefined, message: (e.message ?? "").replace(/^\(combined from similar events\):/, "").trim() });
    byTemplate.set(m[2], list);
  }
  const old = policy.status?.details ?? [];
  const details = (policy.spec["policy-templates"] ?? []).map((t) => {
    const name = t.objectDefinition.metadata.name;
    const seen = new Map<string, History>();
    for (const h of [...(byTemplate.get(name) ?? []), ...(old.find((d) => d.templateMeta?.name === name)?.history ?? [])]) {
      if (h.eventName && !seen.has(h.eventName)) seen.set(h.eventName, h);
    }
    const key = (h: History): bigint => nanosOf(h.eventName, h.lastTimestamp);
    const history = [...seen.values()].sort((a, b) => (key(b) > key(a) ? 1 : key(b) < key(a) ? -1 : 0)).slice(0, 10);
    const newest = history[0]?.message;
    return { templateMeta: { name }, history, ...(newest !== undefined ? { compliant: complianceOf(newest) } : {}) };
  });
  const states = details.map((d) => d.compliant);
  let compliant: string | undefined = policy.status?.compliant;
  if (states.includes("NonCompliant")) compliant = "NonCompliant";
  else if (states.includes("Pending")) compliant = "Pending";
  else if (states.length > 0 && states.every((s) => s === "Compliant")) compliant = "Compliant";
  return { ...(compliant !== undefined ? { compliant } : {}), details };
}

export interface PolicySyncOptions {
  cluster: string;
  hub: KubeConnection;
  spoke: KubeConnection;
  logger: Logger;
}

/** Starts the three syncs for one managed cluster; resolves to a stop function. */
export async function startPolicySync(o: PolicySyncOptions): Promise<() => Promise<void>> {
  const { cluster, logger } = o;
  const hubRaw = new RawClient(o.hub);
  const spokeRaw = new RawClient(o.spoke);
  const registry = new Registry();
  const policies = (connection: KubeConnection) =>
    new Informer<Policy>({ connection, resource: { apiVersion: POLICY_API, kind: "Policy", plural: "policies", namespace: cluster }, schema: policySchema, logger });
  const hubPolicies = policies(o.hub);
  const spokePolicies = policies(o.spoke);
  const templates = new Informer<Template>({
    connection: o.spoke,
    resource: { apiVersion: POLICY_API, kind: "ConfigurationPolicy", plural: "configurationpolicies", namespace: cluster },
    schema: templateSchema,
    logger,
  });
  const events = new Informer<Event>({ connection: o.spoke, resource: { apiVersion: "v1", kind: "Event", plural: "events", namespace: cluster }, schema: eventSchema, logger });

  const policyPath = (p: Policy, ns: string): string => `${groupVersionPath(POLICY_API)}/namespaces/${ns}/policies/${p.metadata.name}`;
  const templatesPath = `${groupVersionPath(POLICY_API)}/namespaces/${cluster}/configurationpolicies`;
  const templatePath = (t: Template): string => `${templatesPath}/${t.metadata.name}`;

  async function specSync(name: string): Promise<Policy | undefined> {
    const hub = hubPolicies.get(cluster, name);
    const spoke = spokePolicies.get(cluster, name);
    if (!hub) {
      if (spoke) {
        logger.info({ policy: name }, "replicated policy deleted on the hub: removing it from the managed cluster");
        await spokeRaw.request("DELETE", policyPath(spoke, cluster)).catch((e: unknown) => { if (!isNotFound(e)) throw e; });
      }
      return undefined;
    }
    if (!spoke) {
      const { uid: _u, resourceVersion: _r, ownerReferences: _o, ...meta } = hub.metadata;
      const labels = { ...(meta.labels ?? {}) };
      if (labels[CLUSTER_NAMESPACE_LABEL]) labels[CLUSTER_NAMESPACE_LABEL] = cluster;
      const body = { apiVersion: POLICY_API, kind: "Policy", metadata: { name: meta.name, namespace: cluster, labels, annotations: meta.annotations ?? {} }, spec: hub.spec };
      logger.info({ policy: name }, "creating the replicated policy on the managed cluster");
      return policySchema.parse((await spokeRaw.request("POST", `${groupVersionPath(POLICY_API)}/namespaces/${cluster}/policies`, body)).body);
    }
    if (!sameJson(hub.spec, spoke.spec) || !sameJson(hub.metadata.annotations ?? {}, spoke.metadata.annotations ?? {})) {
      logger.info({ policy: name }, "policy differs from the hub: updating it on the managed cluster");
      const body = { ...spoke, metadata: { ...spoke.metadata, annotations: hub.metadata.annotations ?? {} }, spec: hub.spec };
      return policySchema.parse((await spokeRaw.request("PUT", policyPath(spoke, cluster), body)).body);
    }
    return spoke;
  }

  async function templateSync(policy: Policy): Promise<void> {
    const desired = desiredTemplates(policy);
    for (const t of desired) {
      if (t.kind !== "ConfigurationPolicy") {
        logger.warn({ policy: policy.metadata.name, kind: t.kind }, "only ConfigurationPolicy templates are synced by the fleet");
        continue;
      }
      const current = templates.get(cluster, t.metadata.name);
      if (!current) {
        logger.info({ policy: policy.metadata.name, template: t.metadata.name }, "creating policy template");
        await spokeRaw.request("POST", templatesPath, t);
        continue;
      }
      const owner = current.metadata.ownerReferences?.[0]?.name;
      if (owner !== policy.metadata.name) {
        logger.error({ policy: policy.metadata.name, template: t.metadata.name, owner }, "template name must be unique: it belongs to another policy");
        continue;
      }
      if (!sameJson(current.spec, t.spec) || !sameJson(current.metadata.annotations ?? {}, t.metadata.annotations ?? {})) {
        logger.info({ policy: policy.metadata.name, template: t.metadata.name }, "updating policy template");
        const body = { ...current, metadata: { ...current.metadata, annotations: t.metadata.annotations ?? {} }, spec: t.spec };
        await spokeRaw.request("PUT", templatePath(t), body);
      }
    }
    // Templates this Policy owned but no longer lists go (template sync's clean-up).
    const wanted = new Set(desired.map((t) => t.metadata.name));
    for (const t of templates.list(cluster)) {
      if (t.metadata.ownerReferences?.some((r) => r.uid === policy.metadata.uid) && !wanted.has(t.metadata.name)) {
        logger.info({ policy: policy.metadata.name, template: t.metadata.name }, "deleting a template the policy no longer lists");
        await spokeRaw.request("DELETE", templatePath(t)).catch((e: unknown) => { if (!isNotFound(e)) throw e; });
      }
    }
  }

  async function statusSync(policy: Policy): Promise<void> {
    const status = policyStatus(policy, events.list(cluster));
    if (!sameJson(policy.status ?? {}, status)) {
      await spokeRaw.request("PUT", `${policyPath(policy, cluster)}/status`, { ...policy, status });
    }
    const hub = hubPolicies.get(cluster, policy.metadata.name);
    if (hub && !sameJson(hub.status ?? {}, status)) {
      logger.info({ policy: policy.metadata.name, compliant: status.compliant }, "updating the policy status on the hub");
      await hubRaw.request("PUT", `${policyPath(hub, cluster)}/status`, { ...hub, status });
    }
  }

  const controller = new Controller({
    name: "policy-sync",
    logger,
    registry,
    reconcile: async (name) => {
      const policy = await specSync(name);
      if (!policy || policy.metadata.deletionTimestamp) return undefined;
      await templateSync(policy);
      await statusSync(policy);
      return undefined;
    },
  });
  const byName = (p: { metadata: { name: string } }): void => controller.enqueue(p.metadata.name);
  for (const inf of [hubPolicies, spokePolicies]) {
    inf.onAdd(byName);
    inf.onUpdate(byName);
    inf.onDelete(byName);
  }
  const byOwner = (t: Template): void => {
    for (const r of t.metadata.ownerReferences ?? []) if (r.kind === "Policy") controller.enqueue(r.name);
  };
  templates.onAdd(byOwner);
  templates.onUpdate(byOwner);
  templates.onDelete(byOwner);
  const byEvent = (e: Event): void => {
    if (e.involvedObject.kind === "Policy" && e.involvedObject.name) controller.enqueue(e.involvedObject.name);
  };
  events.onAdd(byEvent);
  events.onUpdate(byEvent);

  const informers = [hubPolicies, spokePolicies, templates, events];
  for (const i of informers) i.start();
  await Promise.all(informers.map((i) => i.waitForSync()));
  controller.start();
  logger.info({ cluster }, "policy sync started");
  return async () => {
    await controller.stop();
    await Promise.all(informers.map((i) => i.stop()));
    hubRaw.close();
    spokeRaw.close();
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { cluster: { type: "string" }, "hub-kubeconfig": { type: "string" }, "spoke-kubeconfig": { type: "string" } },
    strict: true,
  });
  const args = z.object({ cluster: z.string().min(1), "hub-kubeconfig": z.string().min(1), "spoke-kubeconfig": z.string().min(1) }).parse(values);
  const logger = createLogger({ name: "policy-sync" });
  const stop = await startPolicySync({
    cluster: args.cluster,
    hub: await loadKubeconfigFile(args["hub-kubeconfig"]),
    spoke: await loadKubeconfigFile(args["spoke-kubeconfig"]),
    logger,
  });
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    process.once(sig, () => {
      void stop().then(() => process.exit(0));
    });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}
