// The translation of one container of a pod spec into `podman run` arguments (pure): command and
// args, environment, bind mounts of the prepared volumes, securityContext, labels, and the CRI log
// file. The fixed flags (runc, host network, ulimits) come from podman.ts.
import { ContainerConfigError } from "./env.ts";
import type { Pod, PodContainer } from "./pod.ts";
import { within, type PreparedVolume } from "./volumes.ts";

export const NODE_LABEL = "e2e.kmm.sigs.x-k8s.io/node";
export const POD_UID_LABEL = "e2e.kmm.sigs.x-k8s.io/pod-uid";

export interface ContainerRunInput {
  pod: Pod;
  container: PodContainer;
  /** podman container name */
  name: string;
  node: string;
  /** image id or reference to run (already pulled) */
  image: string;
  env: ReadonlyMap<string, string>;
  volumes: ReadonlyMap<string, PreparedVolume>;
  /** host file mounted at terminationMessagePath */
  terminationFile: string;
  logFile: string;
}

/** The effective securityContext: the container's fields over the pod's (Kubernetes' rule). */
export function effectiveSecurity(pod: Pod, c: PodContainer) {
  const p = pod.spec.securityContext ?? {};
  const s = c.securityContext ?? {};
  return {
    runAsUser: s.runAsUser ?? p.runAsUser,
    runAsGroup: s.runAsGroup ?? p.runAsGroup,
    runAsNonRoot: s.runAsNonRoot ?? p.runAsNonRoot,
    supplementalGroups: [...(p.supplementalGroups ?? []), ...(p.fsGroup !== undefined ? [p.fsGroup] : [])],
    privileged: s.privileged === true,
    readOnlyRootFilesystem: s.readOnlyRootFilesystem === true,
    allowPrivilegeEscalation: s.allowPrivilegeEscalation,
    add: s.capabilities?.add ?? [],
    drop: s.capabilities?.drop ?? [],
    seccomp: s.seccompProfile?.type,
  };
}

/**
 * Whether the image would run as root, which `runAsNonRoot` forbids (the kubelet's check: a
 * numeric user 0, or a non-numeric user it cannot verify).
 * @throws ContainerConfigError as the kubelet reports it
 */
export function checkNonRoot(pod: Pod, c: PodContainer, imageUser: string | undefined): void {
  const sec = effectiveSecurity(pod, c);
  if (sec.runAsNonRoot !== true) return;
  if (sec.runAsUser !== undefined) {
    if (sec.runAsUser === 0) throw new ContainerConfigError("container's runAsUser breaks non-root policy");
    return;
  }
  const user = (imageUser ?? "").split(":")[0] ?? "";
  if (user === "" || user === "0" || user === "root") throw new ContainerConfigError("container has runAsNonRoot and image will run as root");
  if (!/^\d+$/.test(user)) throw new ContainerConfigError(`container has runAsNonRoot and image has non-numeric user (${user}), cannot verify user is non-root`);
}

/** `podman run` arguments after the fixed flags: options, image, then the container's args. */
export function containerRunArgs(i: ContainerRunInput): string[] {
  const { pod, container: c } = i;
  const args = [
    "--name", i.name,
    "--label", `${NODE_LABEL}=${i.node}`,
    "--label", `${POD_UID_LABEL}=${pod.metadata.uid}`,
    "--label", `io.kubernetes.pod.namespace=${pod.metadata.namespace}`,
    "--label", `io.kubernetes.pod.name=${pod.metadata.name}`,
    "--label", `io.kubernetes.container.name=${c.name}`,
    // CRI log format (`<time> <stream> <F|P> <line>`), one file per container, as the kubelet keeps them.
    "--log-driver", "k8s-file", "--log-opt", `path=${i.logFile}`,
    "--pull", "never",
  ];
  for (const [k, v] of i.env) args.push("--env", `${k}=${v}`);
  if (c.workingDir !== undefined && c.workingDir !== "") args.push("--workdir", c.workingDir);

  const sec = effectiveSecurity(pod, c);
  if (sec.runAsUser !== undefined) args.push("--user", sec.runAsGroup !== undefined ? `${sec.runAsUser}:${sec.runAsGroup}` : String(sec.runAsUser));
  for (const g of sec.supplementalGroups) args.push("--group-add", String(g));
  if (sec.privileged) args.push("--privileged");
  for (const cap of sec.drop) args.push("--cap-drop", cap);
  for (const cap of sec.add) args.push("--cap-add", cap);
  // Kubernetes mounts no tmpfs of its own on a read-only root; podman would.
  if (sec.readOnlyRootFilesystem) args.push("--read-only", "--read-only-tmpfs=false");
  if (sec.allowPrivilegeEscalation === false) args.push("--security-opt", "no-new-privileges");
  // The kubelet's default seccomp profile is Unconfined; RuntimeDefault is podman's default profile.
  if (!sec.privileged && sec.seccomp !== "RuntimeDefault" && sec.seccomp !== "Localhost") args.push("--security-opt", "seccomp=unconfined");

  for (const m of c.volumeMounts ?? []) {
    const vol = i.volumes.get(m.name);
    if (vol === undefined) throw new ContainerConfigError(`volumeMount ${m.name} of container ${c.name} names no volume of the pod`);
    const source = m.subPath !== undefined && m.subPath !== "" ? within(vol.hostPath, m.subPath, "subPath") : vol.hostPath;
    const ro = vol.readOnly || m.readOnly === true;
    args.push("--mount", `type=bind,source=${source},destination=${m.mountPath}${ro ? ",ro=true" : ""}`);
  }
  args.push("--mount", `type=bind,source=${i.terminationFile},destination=${c.terminationMessagePath ?? "/dev/termination-log"}`);

  // command replaces the image's ENTRYPOINT (and drops its CMD); args alone replace CMD.
  if (c.command !== undefined && c.command.length > 0) args.push("--entrypoint", JSON.stringify(c.command));
  args.push(i.image);
  if (c.args !== undefined) args.push(...c.args);
  return args;
}

/** `$(VAR)` in command and args are expanded from the container's environment, as in env. */
export function expandCommand(c: PodContainer, expandOne: (s: string) => string): PodContainer {
  return {
    ...c,
    ...(c.command !== undefined ? { command: c.command.map(expandOne) } : {}),
    ...(c.args !== undefined ? { args: c.args.map(expandOne) } : {}),
  };
}
