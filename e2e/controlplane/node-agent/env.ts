// A container's environment as the kubelet builds it: envFrom first, then env in order with
// `$(VAR)` expansion, valueFrom (fieldRef, secretKeyRef, configMapKeyRef), and the
// KUBERNETES_SERVICE_* variables — here pointing at the API server on loopback (no pod network).
import type { Pod, PodContainer } from "./pod.ts";

/** A pod the agent cannot start as written (the kubelet's CreateContainerConfigError). */
export class ContainerConfigError extends Error {
  override readonly name = "ContainerConfigError";
}

/** Reads ConfigMap and Secret data (Secret values decoded); undefined when the object does not exist. */
export interface DataSource {
  configMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  secret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
}

/** What the downward API can read of a pod on this node. */
export interface PodFacts {
  hostIP: string;
  podIP: string;
}

/**
 * Expands `$(NAME)` from `vars`; `$$(NAME)` stays literal as `$(NAME)`; unknown names are left as
 * written (Kubernetes' rule, k8s.io/kubernetes/third_party/forked/golang/expansion).
 */
export function expand(input: string, vars: ReadonlyMap<string, string>): string {
  return input.replace(/\$\$|\$\(([^)]*)\)/g, (m: string, name: string | undefined) => {
    if (m === "$$") return "$";
    return name !== undefined && vars.has(name) ? vars.get(name)! : m;
  });
}

/** The value of a downward API field path (the kubelet's supported set for env and volumes). */
export function fieldValue(pod: Pod, fieldPath: string, facts: PodFacts): string {
  const m = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(fieldPath);
  if (m) return (m[1] === "labels" ? pod.metadata.labels : pod.metadata.annotations)?.[m[2]!] ?? "";
  switch (fieldPath) {
    case "metadata.name":
      return pod.metadata.name;
    case "metadata.namespace":
      return pod.metadata.namespace;
    case "metadata.uid":
      return pod.metadata.uid;
    case "metadata.labels":
      return formatMap(pod.metadata.labels);
    case "metadata.annotations":
      return formatMap(pod.metadata.annotations);
    case "spec.nodeName":
      return pod.spec.nodeName ?? "";
    case "spec.serviceAccountName":
      return pod.spec.serviceAccountName ?? "";
    case "status.hostIP":
    case "status.hostIPs":
      return facts.hostIP;
    case "status.podIP":
    case "status.podIPs":
      return facts.podIP;
    default:
      throw new ContainerConfigError(`field path ${fieldPath} is not supported by the downward API`);
  }
}

/** `key="value"` lines, sorted, as the kubelet writes labels and annotations files. */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.entries(m ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join("\n");
}

/** The kubernetes Service as a pod sees it: the API server, reached on loopback. */
export function serviceEnv(apiServer: URL): Map<string, string> {
  const host = apiServer.hostname;
  const port = apiServer.port || "443";
  return new Map([
    ["KUBERNETES_SERVICE_HOST", host],
    ["KUBERNETES_SERVICE_PORT", port],
    ["KUBERNETES_SERVICE_PORT_HTTPS", port],
    ["KUBERNETES_PORT", `tcp://${host}:${port}`],
    ["KUBERNETES_PORT_443_TCP", `tcp://${host}:${port}`],
    ["KUBERNETES_PORT_443_TCP_PROTO", "tcp"],
    ["KUBERNETES_PORT_443_TCP_ADDR", host],
    ["KUBERNETES_PORT_443_TCP_PORT", port],
  ]);
}

async function keyOf(
  data: DataSource,
  kind: "ConfigMap" | "Secret",
  ns: string,
  ref: { name?: string | undefined; key: string; optional?: boolean | undefined },
): Promise<string | undefined> {
  const name = ref.name ?? "";
  const obj = kind === "Secret" ? await data.secret(ns, name) : await data.configMap(ns, name);
  if (obj === undefined) {
    if (ref.optional === true) return undefined;
    throw new ContainerConfigError(`${kind.toLowerCase()} "${name}" not found`);
  }
  const v = obj[ref.key];
  if (v === undefined && ref.optional !== true) throw new ContainerConfigError(`couldn't find key ${ref.key} in ${kind} ${ns}/${name}`);
  return v;
}

/**
 * The environment of one container, in the kubelet's order (service variables, envFrom, env).
 * @throws ContainerConfigError for a missing ConfigMap/Secret or key that is not optional.
 */
export async function containerEnv(pod: Pod, container: PodContainer, data: DataSource, facts: PodFacts, apiServer: URL): Promise<Map<string, string>> {
  const ns = pod.metadata.namespace;
  const env = serviceEnv(apiServer);
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? "";
    const ref = from.configMapRef ?? from.secretRef;
    if (ref === undefined) continue;
    const kind = from.configMapRef !== undefined ? "ConfigMap" : "Secret";
    const name = ref.name ?? "";
    const obj = kind === "Secret" ? await data.secret(ns, name) : await data.configMap(ns, name);
    if (obj === undefined) {
      if (ref.optional === true) continue;
      throw new ContainerConfigError(`${kind.toLowerCase()} "${name}" not found`);
    }
    for (const [k, v] of Object.entries(obj)) env.set(`${prefix}${k}`, v);
  }
  for (const e of container.env ?? []) {
    let value: string | undefined;
    const from = e.valueFrom;
    if (from === undefined) value = expand(e.value ?? "", env);
    else if (from.fieldRef !== undefined) value = fieldValue(pod, from.fieldRef.fieldPath, facts);
    else if (from.secretKeyRef !== undefined) value = await keyOf(data, "Secret", ns, from.secretKeyRef);
    else if (from.configMapKeyRef !== undefined) value = await keyOf(data, "ConfigMap", ns, from.configMapKeyRef);
    else throw new ContainerConfigError(`env ${e.name} of container ${container.name}: only fieldRef, secretKeyRef and configMapKeyRef are supported by the fleet's node agent`);
    if (value !== undefined) env.set(e.name, value);
  }
  return env;
}
