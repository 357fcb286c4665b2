// A pod's volumes as host folders the containers bind-mount, as the kubelet lays them out:
// ConfigMap, Secret, downwardAPI and projected volumes are files written from the API (the
// ServiceAccount token from the TokenRequest API), emptyDir is an empty folder, and hostPath is a
// folder of the node's fake host root, never of the machine.
import { chmod, chown, mkdir, stat, writeFile } from "node:fs/promises";
import { dirname, join, normalize, relative } from "node:path";
import { ContainerConfigError, fieldValue, formatMap, type DataSource, type PodFacts } from "./env.ts";
import type { Pod, PodVolume } from "./pod.ts";

/** Issues ServiceAccount tokens bound to a pod (TokenRequest, as the kubelet asks for them). */
export interface TokenSource {
  token(namespace: string, serviceAccount: string, opts: { audience?: string | undefined; expirationSeconds: number; pod: Pod }): Promise<string>;
}

export interface VolumeContext {
  /** this pod's folder on the node (`<node>/pods/<uid>`) */
  podDir: string;
  /** the node's fake host root: hostPath `/lib/modules` is `<hostRoot>/lib/modules` */
  hostRoot: string;
  data: DataSource;
  tokens: TokenSource;
  facts: PodFacts;
}

export interface PreparedVolume {
  hostPath: string;
  /** the volume is read-only whatever the mount says (ConfigMap, Secret, downwardAPI, projected) */
  readOnly: boolean;
}

/** `base/rel`, refusing a relative path that leaves `base` (`..`, absolute). */
export function within(base: string, rel: string, what: string): string {
  const full = normalize(join(base, rel));
  const r = relative(base, full);
  if (r.startsWith("..") || rel.startsWith("/")) throw new ContainerConfigError(`${what} ${JSON.stringify(rel)} leaves its volume`);
  return full;
}

/** The host folder behind a hostPath volume: the path under the node's own root (`..` stops at its `/`, as on a host). */
export function hostPathOnNode(hostRoot: string, path: string): string {
  return join(hostRoot, normalize(`/${path}`));
}

/**
 * Writes the items; with the pod's fsGroup, each file is group-owned by it and group-readable, as
 * the kubelet's SetVolumeOwnership leaves a read-only volume (mode | 0440).
 */
async function writeItems(dir: string, files: { path: string; content: string; mode: number }[], fsGroup?: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const f of files) {
    const file = within(dir, f.path, "item path");
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, f.content);
    if (fsGroup !== undefined) await chown(file, 0, fsGroup);
    await chmod(file, fsGroup !== undefined ? f.mode | 0o440 : f.mode);
  }
}

type Items = { key: string; path: string; mode?: number | undefined }[] | undefined;

async function keyFiles(
  data: DataSource,
  kind: "ConfigMap" | "Secret",
  ns: string,
  name: string,
  items: Items,
  optional: boolean,
  defaultMode: number,
): Promise<{ path: string; content: string; mode: number }[]> {
  const obj = kind === "Secret" ? await data.secret(ns, name) : await data.configMap(ns, name);
  if (obj === undefined) {
    if (optional) return [];
    throw new ContainerConfigError(`${kind.toLowerCase()} "${name}" not found`);
  }
  if (items === undefined) return Object.entries(obj).map(([k, v]) => ({ path: k, content: v, mode: defaultMode }));
  return items.flatMap((it) => {
    const v = obj[it.key];
    if (v === undefined) {
      if (optional) return [];
      throw new ContainerConfigError(`configmap references non-existent config key: ${it.key}`.replace("configmap", kind.toLowerCase()));
    }
    return [{ path: it.path, content: v, mode: it.mode ?? defaultMode }];
  });
}

function downwardFiles(pod: Pod, items: { path: string; fieldRef?: { fieldPath: string } | undefined; mode?: number | undefined }[], facts: PodFacts, defaultMode: number) {
  return items.map((it) => {
    if (it.fieldRef === undefined) throw new ContainerConfigError(`downwardAPI item ${it.path}: only fieldRef is supported by the fleet's node agent`);
    const v = it.fieldRef.fieldPath === "metadata.labels" || it.fieldRef.fieldPath === "metadata.annotations"
      ? formatMap(it.fieldRef.fieldPath === "metadata.labels" ? pod.metadata.labels : pod.metadata.annotations)
      : fieldValue(pod, it.fieldRef.fieldPath, facts);
    return { path: it.path, content: v, mode: it.mode ?? defaultMode };
  });
}

/** The files of a projected volume (token, ConfigMap, Secret, downwardAPI sources). */
async function projectedFiles(pod: Pod, vol: NonNullable<PodVolume["projected"]>, ctx: VolumeContext) {
  const mode = vol.defaultMode ?? 0o644;
  const ns = pod.metadata.namespace;
  const out: { path: string; content: string; mode: number }[] = [];
  for (const src of vol.sources ?? []) {
    if (src.serviceAccountToken !== undefined) {
      const t = src.serviceAccountToken;
      const token = await ctx.tokens.token(ns, pod.spec.serviceAccountName ?? "default", { audience: t.audience, expirationSeconds: t.expirationSeconds ?? 3600, pod });
      out.push({ path: t.path, content: token, mode });
    } else if (src.configMap !== undefined) {
      out.push(...(await keyFiles(ctx.data, "ConfigMap", ns, src.configMap.name ?? "", src.configMap.items, src.configMap.optional === true, mode)));
    } else if (src.secret !== undefined) {
      out.push(...(await keyFiles(ctx.data, "Secret", ns, src.secret.name ?? "", src.secret.items, src.secret.optional === true, mode)));
    } else if (src.downwardAPI !== undefined) {
      out.push(...downwardFiles(pod, src.downwardAPI.items ?? [], ctx.facts, mode));
    } else {
      throw new ContainerConfigError(`projected volume source ${Object.keys(src).join(",")} is not supported by the fleet's node agent`);
    }
  }
  return out;
}

async function prepareHostPath(ctx: VolumeContext, vol: NonNullable<PodVolume["hostPath"]>): Promise<string> {
  const path = hostPathOnNode(ctx.hostRoot, vol.path);
  const type = vol.type ?? "";
  const found = await stat(path).catch(() => undefined);
  switch (type) {
    case "":
    case "DirectoryOrCreate":
      if (!found) await mkdir(path, { recursive: true, mode: 0o755 });
      break;
    case "FileOrCreate":
      if (!found) {
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, "", { mode: 0o644 });
      }
      break;
    case "Directory":
      if (!found?.isDirectory()) throw new ContainerConfigError(`hostPath type check failed: ${vol.path} is not a directory`);
      break;
    case "File":
      if (!found?.isFile()) throw new ContainerConfigError(`hostPath type check failed: ${vol.path} is not a file`);
      break;
    default:
      if (!found) throw new ContainerConfigError(`hostPath type check failed: ${vol.path} does not exist`);
  }
  return path;
}

/**
 * Writes one volume under `<podDir>/volumes/<name>` (or finds its hostPath folder).
 * @throws ContainerConfigError for missing objects, keys or unsupported volume kinds
 */
export async function prepareVolume(pod: Pod, vol: PodVolume, ctx: VolumeContext): Promise<PreparedVolume> {
  const dir = join(ctx.podDir, "volumes", vol.name);
  const ns = pod.metadata.namespace;
  if (vol.hostPath !== undefined) return { hostPath: await prepareHostPath(ctx, vol.hostPath), readOnly: false };
  if (vol.emptyDir !== undefined) {
    await mkdir(dir, { recursive: true });
    await chmod(dir, 0o777);
    return { hostPath: dir, readOnly: false };
  }
  let files: { path: string; content: string; mode: number }[];
  if (vol.configMap !== undefined) {
    const c = vol.configMap;
    files = await keyFiles(ctx.data, "ConfigMap", ns, c.name ?? "", c.items, c.optional === true, c.defaultMode ?? 0o644);
  } else if (vol.secret !== undefined) {
    const s = vol.secret;
    files = await keyFiles(ctx.data, "Secret", ns, s.secretName ?? "", s.items, s.optional === true, s.defaultMode ?? 0o644);
  } else if (vol.downwardAPI !== undefined) {
    files = downwardFiles(pod, vol.downwardAPI.items ?? [], ctx.facts, vol.downwardAPI.defaultMode ?? 0o644);
  } else if (vol.projected !== undefined) {
    files = await projectedFiles(pod, vol.projected, ctx);
  } else {
    const kind = Object.keys(vol).filter((k) => k !== "name").join(",") || "(none)";
    throw new ContainerConfigError(`volume ${vol.name}: kind ${kind} is not supported by the fleet's node agent (ConfigMap, Secret, emptyDir, downwardAPI, projected, hostPath are)`);
  }
  // Files are overwritten in place: the folder stays the one the running containers have mounted.
  await writeItems(dir, files, pod.spec.securityContext?.fsGroup);
  return { hostPath: dir, readOnly: true };
}

/** The projected volumes holding a ServiceAccount token (refreshed while the pod runs). */
export function tokenVolumes(pod: Pod): PodVolume[] {
  return (pod.spec.volumes ?? []).filter((v) => (v.projected?.sources ?? []).some((s) => s.serviceAccountToken !== undefined));
}
