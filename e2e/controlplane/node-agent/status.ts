// The pod status the agent writes back, computed from what it knows of each container, with the
// kubelet's rules for phase and conditions (k8s.io/kubernetes/pkg/kubelet/kubelet_pods.go getPhase,
// pkg/kubelet/status/generate.go). Pure: no I/O, unit-tested.

export type ContainerState =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | { terminated: Terminated };

export interface Terminated {
  exitCode: number;
  reason: string;
  message?: string;
  startedAt?: string;
  finishedAt?: string;
  containerID?: string;
}

/** What the agent records of one container of a pod. */
export interface ContainerRecord {
  name: string;
  image: string;
  imageID: string;
  containerID?: string;
  state: ContainerState;
  lastState?: { terminated: Terminated };
  restartCount: number;
  ready: boolean;
}

export interface PodCondition {
  type: string;
  status: "True" | "False";
  /** null, not absent: the status is a strategic merge patch, where an absent field keeps its old value */
  reason: string | null;
  message: string | null;
  lastTransitionTime: string;
  lastProbeTime: null;
}

export interface PodStatusInput {
  restartPolicy: "Always" | "OnFailure" | "Never";
  init: ContainerRecord[];
  containers: ContainerRecord[];
  /** volumes are in place: the pod could start containers */
  sandboxReady: boolean;
  hostIP: string;
  startTime: string;
  previous: PodCondition[];
  now: string;
}

const isTerminated = (s: ContainerState): s is { terminated: Terminated } => "terminated" in s;
const isRunning = (s: ContainerState): s is { running: { startedAt: string } } => "running" in s;

/** The kubelet's pod phase from container states. */
export function podPhase(i: Pick<PodStatusInput, "restartPolicy" | "init" | "containers">): "Pending" | "Running" | "Succeeded" | "Failed" {
  for (const c of i.init) {
    if (isTerminated(c.state) && c.state.terminated.exitCode === 0) continue;
    // A failed init container ends the pod only when it is not restarted.
    if (isTerminated(c.state) && i.restartPolicy === "Never") return "Failed";
    if ("waiting" in c.state && c.lastState !== undefined && i.restartPolicy === "Never") return "Failed";
    return "Pending";
  }
  let running = 0, waiting = 0, stopped = 0, succeeded = 0;
  for (const c of i.containers) {
    if (isRunning(c.state)) running++;
    else if (isTerminated(c.state)) {
      stopped++;
      if (c.state.terminated.exitCode === 0) succeeded++;
    } else if (c.lastState !== undefined) stopped++;
    else waiting++;
  }
  if (waiting > 0) return "Pending";
  if (running > 0) return "Running";
  if (stopped > 0) {
    if (i.restartPolicy === "Always") return "Running";
    if (stopped === succeeded) return "Succeeded";
    if (i.restartPolicy === "Never") return "Failed";
    return "Running";
  }
  return "Pending";
}

function condition(prev: PodCondition[], now: string, type: string, ok: boolean, reason?: string, message?: string): PodCondition {
  const status = ok ? "True" : "False";
  const old = prev.find((c) => c.type === type);
  return {
    type,
    status,
    reason: reason ?? null,
    message: message ?? null,
    lastTransitionTime: old !== undefined && old.status === status ? old.lastTransitionTime : now,
    lastProbeTime: null,
  };
}

function statusOf(c: ContainerRecord, started: boolean) {
  return {
    name: c.name,
    image: c.image,
    imageID: c.imageID,
    ...(c.containerID !== undefined ? { containerID: c.containerID } : {}),
    state: c.state,
    lastState: c.lastState ?? {},
    ready: c.ready,
    restartCount: c.restartCount,
    started,
  };
}

/** The pod's `status` (phase, conditions, container statuses, IPs). */
export function podStatus(i: PodStatusInput) {
  const phase = podPhase(i);
  const initDone = i.init.every((c) => isTerminated(c.state) && c.state.terminated.exitCode === 0);
  const pendingInit = i.init.filter((c) => !(isTerminated(c.state) && c.state.terminated.exitCode === 0)).map((c) => c.name);
  const unready = i.containers.filter((c) => !c.ready).map((c) => c.name);
  const completed = phase === "Succeeded" || phase === "Failed";
  const readyReason = completed ? "PodCompleted" : unready.length > 0 ? "ContainersNotReady" : undefined;
  const readyMessage = !completed && unready.length > 0 ? `containers with unready status: [${unready.join(" ")}]` : undefined;
  const allReady = !completed && unready.length === 0;
  const conditions = [
    condition(i.previous, i.now, "PodReadyToStartContainers", i.sandboxReady),
    condition(i.previous, i.now, "Initialized", initDone, initDone ? undefined : "ContainersNotInitialized", initDone ? undefined : `containers with incomplete status: [${pendingInit.join(" ")}]`),
    condition(i.previous, i.now, "Ready", allReady, readyReason, readyMessage),
    condition(i.previous, i.now, "ContainersReady", allReady, readyReason, readyMessage),
  ];
  return {
    phase,
    conditions,
    hostIP: i.hostIP,
    hostIPs: [{ ip: i.hostIP }],
    // Every container shares the host's network: the pod's address is the node's.
    podIP: i.hostIP,
    podIPs: [{ ip: i.hostIP }],
    startTime: i.startTime,
    ...(i.init.length > 0 ? { initContainerStatuses: i.init.map((c) => statusOf(c, isRunning(c.state))) } : {}),
    containerStatuses: i.containers.map((c) => statusOf(c, isRunning(c.state))),
  };
}
export type PodStatus = ReturnType<typeof podStatus>;
