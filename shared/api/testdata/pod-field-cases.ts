// Admission cases for the Kubernetes types a Module copies into pods (issue 13, kind 2) and for
// upstream KMM's webhook rules (kind 3). Each invalid case names the field the refusal points at and
// a text the refusal must contain. Where Kubernetes itself would refuse the pod, `daemonSet` says
// which DaemonSet the spoke builds from the Module: the e2e test dry-runs it on the real API server
// and checks that Kubernetes refuses it with `kubernetes` (default: `expect`), i.e. that the CRD
// gives Kubernetes' own words for Kubernetes' own rule.
import {
  CONFIG_MAP_NAME_REQUIRED_MESSAGE,
  IN_TREE_BOTH_MESSAGE,
  IN_TREE_MIXED_MESSAGE,
  IMAGE_WHITESPACE_MESSAGE,
  REGEXP_SYNTAX_MESSAGE,
  SECRET_NAME_REQUIRED_MESSAGE,
} from "../module.ts";
import { CONFIG_MAP_KEY_REGEX_MESSAGE, DNS1123_SUBDOMAIN_REGEX_MESSAGE, HTTP_HEADER_NAME_REGEX_MESSAGE } from "../k8s-validation.ts";
import {
  ABSOLUTE_PATH_MESSAGE,
  ACCESS_MODES_REQUIRED_MESSAGE,
  FC_LUN_MESSAGE,
  FC_TARGET_MESSAGE,
  FLEX_RESERVED_MESSAGE,
  IQN_PREFIX_MESSAGE,
  ISCSI_FORMAT_MESSAGE,
  LUN_MESSAGE,
  PARTITION_MESSAGE,
  QUOBYTE_REGISTRY_MESSAGE,
  BACKSTEPS_MESSAGE,
  DIVISOR_MESSAGES,
  HUGEPAGES_CPU_MEMORY_MESSAGE,
  INTEGER_MESSAGE,
  NON_OVERCOMMIT_LIMIT_MESSAGE,
  PROJECTION_ONE_MESSAGE,
  SIZE_LIMIT_MESSAGE,
  TOKEN_MAX_EXPIRATION_MESSAGE,
  TOKEN_MIN_EXPIRATION_MESSAGE,
  DUPLICATE_VOLUME_MESSAGE,
  MOUNT_NOT_FOUND_MESSAGE,
  ENV_MORE_THAN_ONE_SOURCE_MESSAGE,
  ENV_VALUE_AND_VALUE_FROM_MESSAGE,
  ENV_VALUE_FROM_ONE_OF_MESSAGE,
  FILE_MODE_MESSAGE,
  HANDLER_ONE_MESSAGE,
  HANDLER_REQUIRED_MESSAGE,
  HOST_PATH_PREFIX_MESSAGE,
  NON_NEGATIVE_MESSAGE,
  PORT_RANGE_MESSAGE,
  QUANTITY_MESSAGE,
  RELATIVE_PATH_MESSAGE,
  RESERVED_VOLUME_MESSAGE,
  RESOURCE_CLAIMS_MESSAGE,
  STANDARD_RESOURCE_MESSAGE,
  TOLERATION_EMPTY_KEY_MESSAGE,
  TOLERATION_EXISTS_VALUE_MESSAGE,
  TOLERATION_SECONDS_MESSAGE,
  VOLUME_TYPE_ONE_MESSAGE,
} from "../pod-fields.ts";
import { validSpec } from "./cases.ts";

type Spec = Record<string, unknown>;
type Obj = Record<string, unknown>;

export interface PodFieldCase {
  name: string;
  /** Issue 13's kind: 2 = Kubernetes' validation of embedded types, 3 = upstream KMM's webhook. */
  kind: 2 | 3;
  spec: Spec;
  /** Field path the refusal of the Module names (`spec.…`). */
  field: string;
  /** Text the refusal must contain. */
  expect: string;
  /** The DaemonSet Kubernetes refuses for the same input, when it does. */
  daemonSet?: "devicePlugin" | "moduleLoader";
  /** Text of Kubernetes' refusal of that DaemonSet, when it differs from `expect`. */
  kubernetes?: string;
  /**
   * Enforced by the CRD only; zod lets it through so stored objects still reach the controllers,
   * which find it with upstreamRuleProblems() and report it.
   */
  celOnly?: true;
  /**
   * A Kubernetes rule the CRD leaves out because CEL cannot afford it within the API server's cost
   * budget: the API server and zod admit the object, upstreamRuleProblems() reports it (the
   * controllers' SpecValid=False + Event), and Kubernetes refuses the DaemonSet.
   */
  controllerOnly?: true;
  /** More text the API server's refusal holds (e.g. the RE2 error of Go's regexp package). */
  serverDetail?: string;
}

const DP_IMAGE = "registry.example.com/org/device-plugin:v1";

function withTolerations(...tolerations: Obj[]): Spec {
  return { ...validSpec(), tolerations };
}
function withSelector(selector: Record<string, string>): Spec {
  return { ...validSpec(), selector };
}
/** A Module with a device plugin; `container` and `plugin` are merged into its container and spec. */
export function withDevicePlugin(container: Obj = {}, plugin: Obj = {}): Spec {
  return { ...validSpec(), devicePlugin: { container: { image: DP_IMAGE, ...container }, ...plugin } };
}
function withLoader(edit: (c: Obj) => void, loader: Obj = {}): Spec {
  const spec = validSpec();
  const ml = spec.moduleLoader as Obj & { container: Obj };
  edit(ml.container);
  Object.assign(ml, loader);
  return spec;
}
const firstMapping = (c: Obj) => (c.kernelMappings as Obj[])[0] as Obj;
const signature = { keySecret: { name: "signing-key" }, certSecret: { name: "signing-cert" } };
const hostPath = (path: string, type?: string) => ({ name: "host", hostPath: { path, ...(type === undefined ? {} : { type }) } });

export const FIELD_CASE_EFFECT = { key: "accel", operator: "Equal", value: "yes", effect: "NoScheduleTypo" };
export const FIELD_CASE_OPERATOR = { key: "other", operator: "Matches", value: "x" };

export const invalidPodFieldCases: PodFieldCase[] = [
  // ---- tolerations (field cases of issue 13 first)
  {
    name: "field case: toleration effect NoScheduleTypo",
    kind: 2,
    spec: withTolerations(FIELD_CASE_EFFECT),
    field: "spec.tolerations[0].effect",
    expect: 'Unsupported value: "NoScheduleTypo": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"',
    daemonSet: "moduleLoader",
  },
  {
    name: "field case: toleration operator Matches",
    kind: 2,
    spec: withTolerations(FIELD_CASE_OPERATOR),
    field: "spec.tolerations[0].operator",
    expect: 'Unsupported value: "Matches": supported values: "Equal", "Exists"',
    daemonSet: "moduleLoader",
  },
  {
    name: "toleration key that is not a qualified name",
    kind: 2,
    spec: withTolerations({ key: "bad key!", operator: "Exists" }),
    field: "spec.tolerations[0].key",
    expect: "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
    daemonSet: "moduleLoader",
  },
  {
    name: "toleration without key and with operator Equal",
    kind: 2,
    spec: withTolerations({ operator: "Equal", value: "x" }),
    field: "spec.tolerations[0].operator",
    expect: TOLERATION_EMPTY_KEY_MESSAGE,
    daemonSet: "moduleLoader",
  },
  {
    name: "tolerationSeconds with effect NoSchedule",
    kind: 2,
    spec: withTolerations({ key: "a", operator: "Exists", effect: "NoSchedule", tolerationSeconds: 30 }),
    field: "spec.tolerations[0].effect",
    expect: TOLERATION_SECONDS_MESSAGE,
    daemonSet: "moduleLoader",
  },
  {
    name: "toleration value that is not a label value",
    kind: 2,
    spec: withTolerations({ key: "a", operator: "Equal", value: "yes!" }),
    field: "spec.tolerations[0].operator",
    expect: "a valid label must be an empty string or consist of alphanumeric characters",
    daemonSet: "moduleLoader",
  },
  {
    name: "toleration with operator Exists and a value",
    kind: 2,
    spec: withTolerations({ key: "a", operator: "Exists", value: "x" }),
    field: "spec.tolerations[0].operator",
    expect: TOLERATION_EXISTS_VALUE_MESSAGE,
    daemonSet: "moduleLoader",
  },
  // ---- node selector and other names copied into pods
  {
    name: "selector key that is not a qualified name",
    kind: 2,
    spec: withSelector({ "bad key": "x" }),
    field: "spec.selector",
    expect: "name part must consist of alphanumeric characters",
    daemonSet: "moduleLoader",
  },
  {
    name: "selector value that is not a label value",
    kind: 2,
    spec: withSelector({ "kubernetes.io/arch": "amd 64" }),
    field: "spec.selector",
    expect: "a valid label must be an empty string or consist of alphanumeric characters",
    daemonSet: "moduleLoader",
  },
  {
    name: "build selector value that is not a label value",
    kind: 2,
    spec: withLoader((c) => {
      c.build = { dockerfileConfigMap: { name: "dockerfile" }, selector: { "kubernetes.io/arch": "amd 64" } };
    }),
    field: "spec.moduleLoader.container.build.selector",
    expect: "a valid label must be an empty string or consist of alphanumeric characters",
  },
  {
    name: "version that is not a label value (it selects nodes)",
    kind: 2,
    spec: withLoader((c) => {
      c.version = "1.0.0+build.5";
    }),
    // Ordered upgrades label nodes kmm.node.kubernetes.io/version-module.<ns>.<name>=<version>: a
    // version that is not a label value cannot be put on any node.
    field: "spec.moduleLoader.container.version",
    expect: "a valid label must be an empty string or consist of alphanumeric characters",
  },
  {
    name: "module loader serviceAccountName that is not a DNS subdomain",
    kind: 2,
    spec: withLoader(() => undefined, { serviceAccountName: "Module_Loader" }),
    field: "spec.moduleLoader.serviceAccountName",
    expect: "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters",
    daemonSet: "moduleLoader",
  },
  {
    name: "device plugin serviceAccountName that is not a DNS subdomain",
    kind: 2,
    spec: withDevicePlugin({}, { serviceAccountName: "Device_Plugin" }),
    field: "spec.devicePlugin.serviceAccountName",
    expect: "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters",
    daemonSet: "devicePlugin",
  },
  {
    name: "device plugin image with a leading space (pods are refused)",
    kind: 2,
    spec: withDevicePlugin({ image: ` ${DP_IMAGE}` }),
    field: "spec.devicePlugin.container.image",
    expect: IMAGE_WHITESPACE_MESSAGE,
  },
  {
    name: "sign keySecret without a name (the sign Job mounts it)",
    kind: 2,
    spec: withLoader((c) => {
      c.sign = { keySecret: {}, certSecret: { name: "signing-cert" }, filesToSign: ["/opt/a.ko"] };
    }),
    field: "spec.moduleLoader.container.sign.keySecret.name",
    expect: SECRET_NAME_REQUIRED_MESSAGE,
  },
  {
    name: "build dockerfileConfigMap without a name (the build Job mounts it)",
    kind: 2,
    spec: withLoader((c) => {
      firstMapping(c).build = { dockerfileConfigMap: { name: "" } };
    }),
    field: "spec.moduleLoader.container.kernelMappings[0].build.dockerfileConfigMap.name",
    expect: CONFIG_MAP_NAME_REQUIRED_MESSAGE,
  },
  // ---- env
  {
    name: "env name with '='",
    kind: 2,
    spec: withDevicePlugin({ env: [{ name: "A=B", value: "x" }] }),
    field: "spec.devicePlugin.container.env[0].name",
    expect: "a valid environment variable name must consist only of printable ASCII characters other than '='",
    daemonSet: "devicePlugin",
  },
  {
    name: "env valueFrom with no source",
    kind: 2,
    spec: withDevicePlugin({ env: [{ name: "A", valueFrom: {} }] }),
    field: "spec.devicePlugin.container.env[0].valueFrom",
    expect: ENV_VALUE_FROM_ONE_OF_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "env with value and valueFrom",
    kind: 2,
    spec: withDevicePlugin({ env: [{ name: "A", value: "x", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }] }),
    field: "spec.devicePlugin.container.env[0].valueFrom",
    expect: ENV_VALUE_AND_VALUE_FROM_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "env valueFrom with two sources",
    kind: 2,
    spec: withDevicePlugin({
      env: [{ name: "A", valueFrom: { fieldRef: { fieldPath: "metadata.name" }, secretKeyRef: { name: "s", key: "k" } } }],
    }),
    field: "spec.devicePlugin.container.env[0].valueFrom",
    expect: ENV_MORE_THAN_ONE_SOURCE_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "env fieldRef to an unsupported field",
    kind: 2,
    spec: withDevicePlugin({ env: [{ name: "A", valueFrom: { fieldRef: { fieldPath: "spec.hostname" } } }] }),
    field: "spec.devicePlugin.container.env[0].valueFrom.fieldRef.fieldPath",
    expect: "error converting fieldPath: field label not supported: spec.hostname",
    daemonSet: "devicePlugin",
  },
  {
    name: "env fieldRef to a pod field env cannot use",
    kind: 2,
    spec: withDevicePlugin({ env: [{ name: "A", valueFrom: { fieldRef: { fieldPath: "spec.restartPolicy" } } }] }),
    field: "spec.devicePlugin.container.env[0].valueFrom.fieldRef.fieldPath",
    expect:
      'Unsupported value: "spec.restartPolicy": supported values: "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"',
    daemonSet: "devicePlugin",
  },
  {
    name: "env resourceFieldRef to an unsupported resource",
    kind: 2,
    spec: withDevicePlugin({ env: [{ name: "A", valueFrom: { resourceFieldRef: { resource: "limits.gpu" } } }] }),
    field: "spec.devicePlugin.container.env[0].valueFrom.resourceFieldRef.resource",
    expect: 'Unsupported value: "limits.gpu": supported values:',
    daemonSet: "devicePlugin",
  },
  // ---- resources
  {
    name: "resource quantity that is not a quantity",
    kind: 2,
    spec: withDevicePlugin({ resources: { limits: { cpu: "2 cores" } } }),
    field: "spec.devicePlugin.container.resources.limits",
    expect: QUANTITY_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "request above its limit",
    kind: 2,
    spec: withDevicePlugin({ resources: { limits: { memory: "1Gi" }, requests: { memory: "2Gi" } } }),
    field: "spec.devicePlugin.container.resources.requests",
    expect: "must be less than or equal to memory limit of 1Gi",
    daemonSet: "devicePlugin",
  },
  {
    name: "resource name that is neither standard nor qualified",
    kind: 2,
    spec: withDevicePlugin({ resources: { limits: { gpu: "1" } } }),
    field: "spec.devicePlugin.container.resources.limits",
    expect: STANDARD_RESOURCE_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "negative resource quantity",
    kind: 2,
    spec: withDevicePlugin({ resources: { requests: { cpu: "-1" } } }),
    field: "spec.devicePlugin.container.resources.requests",
    expect: NON_NEGATIVE_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "extended resource requested without a limit",
    kind: 2,
    spec: withDevicePlugin({ resources: { requests: { "example.com/gpu": "1" } } }),
    field: "spec.devicePlugin.container.resources.limits",
    expect: NON_OVERCOMMIT_LIMIT_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "resource claim (a Module's pods have no resourceClaims)",
    kind: 2,
    spec: withDevicePlugin({ resources: { claims: [{ name: "gpu" }] } }),
    field: "spec.devicePlugin.container.resources.claims",
    expect: RESOURCE_CLAIMS_MESSAGE,
    daemonSet: "devicePlugin",
    kubernetes: "must be one of the names in pod.spec.resourceClaims which is empty",
  },
  // ---- volumes and mounts
  {
    name: "volume mount naming no volume",
    kind: 2,
    spec: withDevicePlugin({ volumeMounts: [{ name: "nope", mountPath: "/nope" }] }),
    field: "spec.devicePlugin.container.volumeMounts",
    expect: MOUNT_NOT_FOUND_MESSAGE,
    daemonSet: "devicePlugin",
    kubernetes: 'Not found: "nope"',
  },
  {
    name: "init container mount naming no volume",
    kind: 2,
    spec: withDevicePlugin({}, { initContainer: { image: DP_IMAGE, volumeMounts: [{ name: "nope", mountPath: "/nope" }] } }),
    field: "spec.devicePlugin.initContainer.volumeMounts",
    expect: MOUNT_NOT_FOUND_MESSAGE,
    daemonSet: "devicePlugin",
    kubernetes: 'Not found: "nope"',
  },
  {
    name: "volume mount on KMM's device-plugins path",
    kind: 2,
    spec: withDevicePlugin({ volumeMounts: [{ name: "host", mountPath: "/var/lib/kubelet/device-plugins" }] }, { volumes: [hostPath("/dev")] }),
    field: "spec.devicePlugin.container.volumeMounts",
    expect: "must be unique",
    daemonSet: "devicePlugin",
  },
  {
    name: "volume mount with an absolute subPath",
    kind: 2,
    spec: withDevicePlugin({ volumeMounts: [{ name: "host", mountPath: "/host", subPath: "/abs" }] }, { volumes: [hostPath("/dev")] }),
    field: "spec.devicePlugin.container.volumeMounts[0].subPath",
    expect: RELATIVE_PATH_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "volume mount with an unknown mountPropagation",
    kind: 2,
    spec: withDevicePlugin({ volumeMounts: [{ name: "host", mountPath: "/host", mountPropagation: "Shared" }] }, { volumes: [hostPath("/dev")] }),
    field: "spec.devicePlugin.container.volumeMounts[0].mountPropagation",
    expect: 'Unsupported value: "Shared": supported values: "Bidirectional", "HostToContainer", "None"',
    daemonSet: "devicePlugin",
  },
  {
    name: "volume name that is not a DNS label",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "Host_Dev", hostPath: { path: "/dev" } }] }),
    field: "spec.devicePlugin.volumes[0].name",
    expect: "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'",
    daemonSet: "devicePlugin",
  },
  {
    name: "volume with two sources",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "two", hostPath: { path: "/dev" }, emptyDir: {} }] }),
    field: "spec.devicePlugin.volumes[0]",
    expect: VOLUME_TYPE_ONE_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "hostPath volume with an unknown type",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [hostPath("/dev", "Dir")] }),
    field: "spec.devicePlugin.volumes[0].hostPath.type",
    expect: 'Unsupported value: "Dir": supported values: "", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"',
    daemonSet: "devicePlugin",
  },
  {
    name: "hostPath volume with '..'",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [hostPath("/var/../etc")] }),
    field: "spec.devicePlugin.volumes[0].hostPath.path",
    expect: BACKSTEPS_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "two volumes of the same name",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [hostPath("/dev"), hostPath("/sys")] }),
    field: "spec.devicePlugin.volumes",
    expect: DUPLICATE_VOLUME_MESSAGE,
    daemonSet: "devicePlugin",
    kubernetes: 'Duplicate value: "host"',
  },
  {
    name: "volume named like KMM's own device-plugins volume",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "kubelet-device-plugins", emptyDir: {} }] }),
    field: "spec.devicePlugin.volumes",
    expect: RESERVED_VOLUME_MESSAGE,
    daemonSet: "devicePlugin",
    kubernetes: 'Duplicate value: "kubelet-device-plugins"',
  },
  {
    name: "configMap volume with defaultMode above 0777",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "cm", configMap: { name: "cm", defaultMode: 1000 } }] }),
    field: "spec.devicePlugin.volumes[0].configMap.defaultMode",
    expect: FILE_MODE_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "secret volume without secretName",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "s", secret: {} }] }),
    field: "spec.devicePlugin.volumes[0].secret.secretName",
    expect: "secretName must be non-empty",
    kubernetes: "Required value",
    daemonSet: "devicePlugin",
  },
  // ---- probes
  {
    name: "probe without a handler",
    kind: 2,
    spec: withDevicePlugin({ livenessProbe: { periodSeconds: 10 } }),
    field: "spec.devicePlugin.container.livenessProbe",
    expect: HANDLER_REQUIRED_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "probe with two handlers",
    kind: 2,
    spec: withDevicePlugin({ startupProbe: { exec: { command: ["true"] }, tcpSocket: { port: 8080 } } }),
    field: "spec.devicePlugin.container.startupProbe",
    expect: HANDLER_ONE_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "probe port out of range",
    kind: 2,
    spec: withDevicePlugin({ livenessProbe: { httpGet: { port: 70000, path: "/healthz" } } }),
    field: "spec.devicePlugin.container.livenessProbe.httpGet.port",
    expect: PORT_RANGE_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "liveness probe with successThreshold 2",
    kind: 2,
    spec: withDevicePlugin({ livenessProbe: { tcpSocket: { port: 8080 }, successThreshold: 2 } }),
    field: "spec.devicePlugin.container.livenessProbe.successThreshold",
    expect: "must be 1",
    daemonSet: "devicePlugin",
  },
  {
    name: "probe with a negative period",
    kind: 2,
    spec: withDevicePlugin({ livenessProbe: { tcpSocket: { port: 8080 }, periodSeconds: -1 } }),
    field: "spec.devicePlugin.container.livenessProbe.periodSeconds",
    expect: NON_NEGATIVE_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "probe with an unknown HTTP scheme",
    kind: 2,
    spec: withDevicePlugin({ livenessProbe: { httpGet: { port: 8080, scheme: "TCP" } } }),
    field: "spec.devicePlugin.container.livenessProbe.httpGet.scheme",
    expect: 'Unsupported value: "TCP": supported values: "HTTP", "HTTPS"',
    daemonSet: "devicePlugin",
  },
  // ---- gaps closed after the first review: key selectors, fieldRef keys, divisors
  {
    name: "secretKeyRef name that is not a DNS subdomain",
    kind: 2,
    spec: withDevicePlugin({ env: [{ name: "A", valueFrom: { secretKeyRef: { name: "Bad_Name", key: "k" } } }] }),
    field: "spec.devicePlugin.container.env[0].valueFrom.secretKeyRef.name",
    expect: DNS1123_SUBDOMAIN_REGEX_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "configMapKeyRef without a name",
    kind: 2,
    spec: withDevicePlugin({ env: [{ name: "A", valueFrom: { configMapKeyRef: { key: "k" } } }] }),
    field: "spec.devicePlugin.container.env[0].valueFrom.configMapKeyRef.name",
    expect: DNS1123_SUBDOMAIN_REGEX_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "configMapKeyRef key with a space",
    kind: 2,
    spec: withDevicePlugin({ env: [{ name: "A", valueFrom: { configMapKeyRef: { name: "cfg", key: "bad key" } } }] }),
    field: "spec.devicePlugin.container.env[0].valueFrom.configMapKeyRef.key",
    expect: CONFIG_MAP_KEY_REGEX_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "secretKeyRef key '..'",
    kind: 2,
    spec: withDevicePlugin({ env: [{ name: "A", valueFrom: { secretKeyRef: { name: "s", key: ".." } } }] }),
    field: "spec.devicePlugin.container.env[0].valueFrom.secretKeyRef.key",
    expect: "must not be '..'",
    daemonSet: "devicePlugin",
  },
  {
    name: "fieldRef to a label whose key is not a qualified name",
    kind: 2,
    spec: withDevicePlugin({ env: [{ name: "A", valueFrom: { fieldRef: { fieldPath: "metadata.labels['bad key!']" } } }] }),
    field: "spec.devicePlugin.container.env[0].valueFrom.fieldRef",
    expect: "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
    daemonSet: "devicePlugin",
    controllerOnly: true,
  },
  {
    name: "fieldRef to an annotation whose key prefix is not a DNS subdomain",
    kind: 2,
    spec: withDevicePlugin({ env: [{ name: "A", valueFrom: { fieldRef: { fieldPath: "metadata.annotations['Bad_Prefix/owner']" } } }] }),
    field: "spec.devicePlugin.container.env[0].valueFrom.fieldRef",
    expect: "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters",
    daemonSet: "devicePlugin",
    controllerOnly: true,
  },
  {
    name: "downwardAPI file of a label whose key is not a qualified name",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "info", downwardAPI: { items: [{ path: "x", fieldRef: { fieldPath: "metadata.labels['-bad']" } }] } }] }),
    field: "spec.devicePlugin.volumes[0].downwardAPI.items[0].fieldRef",
    expect: "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
    daemonSet: "devicePlugin",
    controllerOnly: true,
  },
  {
    name: "projected downwardAPI file of an annotation whose key name part is over 63 characters",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "p", projected: { sources: [{ downwardAPI: { items: [{ path: "x", fieldRef: { fieldPath: `metadata.annotations['example.com/${"a".repeat(64)}']` } }] } }] } }] }),
    field: "spec.devicePlugin.volumes[0].projected.sources[0].downwardAPI.items[0].fieldRef",
    expect: "name part must be no more than 63 characters",
    daemonSet: "devicePlugin",
    controllerOnly: true,
  },
  {
    name: "cpu divisor 2",
    kind: 2,
    spec: withDevicePlugin({ env: [{ name: "A", valueFrom: { resourceFieldRef: { resource: "limits.cpu", divisor: "2" } } }] }),
    field: "spec.devicePlugin.container.env[0].valueFrom.resourceFieldRef.divisor",
    expect: DIVISOR_MESSAGES.cpu,
    daemonSet: "devicePlugin",
  },
  {
    name: "memory divisor 1024 (its canonical form is 1024, not 1Ki)",
    kind: 2,
    spec: withDevicePlugin({ env: [{ name: "A", valueFrom: { resourceFieldRef: { resource: "requests.memory", divisor: "1024" } } }] }),
    field: "spec.devicePlugin.container.env[0].valueFrom.resourceFieldRef.divisor",
    expect: DIVISOR_MESSAGES.memory,
    daemonSet: "devicePlugin",
  },
  {
    name: "divisor that is not a quantity",
    kind: 2,
    spec: withDevicePlugin({ env: [{ name: "A", valueFrom: { resourceFieldRef: { resource: "limits.memory", divisor: "one" } } }] }),
    field: "spec.devicePlugin.container.env[0].valueFrom.resourceFieldRef.divisor",
    expect: QUANTITY_MESSAGE,
    daemonSet: "devicePlugin",
  },
  // ---- volume sources
  {
    name: "emptyDir with a negative sizeLimit",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "scratch", emptyDir: { sizeLimit: "-1Gi" } }] }),
    field: "spec.devicePlugin.volumes[0].emptyDir.sizeLimit",
    expect: SIZE_LIMIT_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "downwardAPI item with an absolute path",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "info", downwardAPI: { items: [{ path: "/etc/labels", fieldRef: { fieldPath: "metadata.labels" } }] } }] }),
    field: "spec.devicePlugin.volumes[0].downwardAPI.items[0].path",
    expect: RELATIVE_PATH_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "downwardAPI item path with '..'",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "info", downwardAPI: { items: [{ path: "a/../../b", fieldRef: { fieldPath: "metadata.name" } }] } }] }),
    field: "spec.devicePlugin.volumes[0].downwardAPI.items[0].path",
    expect: BACKSTEPS_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "downwardAPI item without fieldRef or resourceFieldRef",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "info", downwardAPI: { items: [{ path: "x" }] } }] }),
    field: "spec.devicePlugin.volumes[0].downwardAPI.items[0]",
    expect: "one of fieldRef and resourceFieldRef is required",
    daemonSet: "devicePlugin",
  },
  {
    name: "projected downwardAPI item with an absolute path",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "p", projected: { sources: [{ downwardAPI: { items: [{ path: "/name", fieldRef: { fieldPath: "metadata.name" } }] } }] } }] }),
    field: "spec.devicePlugin.volumes[0].projected.sources[0].downwardAPI.items[0].path",
    expect: RELATIVE_PATH_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "serviceAccountToken that expires in under 10 minutes",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "p", projected: { sources: [{ serviceAccountToken: { path: "token", expirationSeconds: 60 } }] } }] }),
    field: "spec.devicePlugin.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds",
    expect: TOKEN_MIN_EXPIRATION_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "serviceAccountToken that expires after 2^32 seconds",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "p", projected: { sources: [{ serviceAccountToken: { path: "token", expirationSeconds: 2 ** 32 + 1 } }] } }] }),
    field: "spec.devicePlugin.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds",
    expect: TOKEN_MAX_EXPIRATION_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "projected source of two types",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "p", projected: { sources: [{ secret: { name: "s" }, configMap: { name: "c" } }] } }] }),
    field: "spec.devicePlugin.volumes[0].projected.sources[0]",
    expect: PROJECTION_ONE_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "csi driver that is not a DNS subdomain",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "c", csi: { driver: "csi_driver!" } }] }),
    field: "spec.devicePlugin.volumes[0].csi.driver",
    expect: DNS1123_SUBDOMAIN_REGEX_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "csi driver longer than 63 characters",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "c", csi: { driver: `${"d".repeat(60)}.io1` } }] }),
    field: "spec.devicePlugin.volumes[0].csi.driver",
    expect: "may not be more than 63 bytes",
    daemonSet: "devicePlugin",
  },
  {
    name: "nfs volume without a server",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "n", nfs: { server: "", path: "/exports" } }] }),
    field: "spec.devicePlugin.volumes[0].nfs.server",
    expect: "server must be non-empty",
    kubernetes: "Required value",
    daemonSet: "devicePlugin",
  },
  {
    name: "nfs volume with a relative path",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "n", nfs: { server: "nfs.example.com", path: "exports" } }] }),
    field: "spec.devicePlugin.volumes[0].nfs.path",
    expect: ABSOLUTE_PATH_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "ephemeral volume without a volumeClaimTemplate",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "e", ephemeral: {} }] }),
    field: "spec.devicePlugin.volumes[0].ephemeral.volumeClaimTemplate",
    expect: "volumeClaimTemplate must be set",
    kubernetes: "Required value",
    daemonSet: "devicePlugin",
  },
  // ---- the rarer volume sources (validateVolumeSource's helpers): presence, ranges, prefixes and enums in the CRD
  {
    name: "iscsi volume whose iqn starts with none of iqn, eui, naa",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "i", iscsi: { targetPortal: "10.0.0.1:3260", iqn: "bad", lun: 0 } }] }),
    field: "spec.devicePlugin.volumes[0].iscsi.iqn",
    expect: IQN_PREFIX_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "iscsi volume with lun 256",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "i", iscsi: { targetPortal: "10.0.0.1:3260", iqn: "iqn.2001-04.com.example:disk", lun: 256 } }] }),
    field: "spec.devicePlugin.volumes[0].iscsi.lun",
    expect: LUN_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "rbd volume without monitors",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "r", rbd: { monitors: [], image: "img" } }] }),
    field: "spec.devicePlugin.volumes[0].rbd.monitors",
    expect: "monitors must be non-empty",
    daemonSet: "devicePlugin",
    kubernetes: "rbd.monitors: Required value",
  },
  {
    name: "cephfs volume without monitors",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "c", cephfs: { monitors: [] } }] }),
    field: "spec.devicePlugin.volumes[0].cephfs.monitors",
    expect: "monitors must be non-empty",
    daemonSet: "devicePlugin",
    kubernetes: "cephfs.monitors: Required value",
  },
  {
    name: "fc volume with neither targetWWNs nor wwids",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "f", fc: {} }] }),
    field: "spec.devicePlugin.volumes[0].fc.targetWWNs",
    expect: FC_TARGET_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "fc volume with targetWWNs and no lun",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "f", fc: { targetWWNs: ["500a0982991b8dc5"] } }] }),
    field: "spec.devicePlugin.volumes[0].fc.lun",
    expect: FC_LUN_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "azureFile volume without a shareName",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "a", azureFile: { secretName: "azure", shareName: "" } }] }),
    field: "spec.devicePlugin.volumes[0].azureFile.shareName",
    expect: "shareName must be non-empty",
    daemonSet: "devicePlugin",
    kubernetes: "azureFile.shareName: Required value",
  },
  {
    name: "azureDisk volume of an unknown kind",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "a", azureDisk: { diskName: "d", diskURI: "https://a.blob.core.windows.net/c/d.vhd", kind: "Blob" } }] }),
    field: "spec.devicePlugin.volumes[0].azureDisk.kind",
    expect: 'Unsupported value: "Blob": supported values: "Dedicated", "Managed", "Shared"',
    daemonSet: "devicePlugin",
  },
  {
    name: "gcePersistentDisk volume with partition 300",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "g", gcePersistentDisk: { pdName: "disk", partition: 300 } }] }),
    field: "spec.devicePlugin.volumes[0].gcePersistentDisk.partition",
    expect: PARTITION_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "gitRepo volume with an absolute directory",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "g", gitRepo: { repository: "https://example.com/r.git", directory: "/abs" } }] }),
    field: "spec.devicePlugin.volumes[0].gitRepo.directory",
    expect: RELATIVE_PATH_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "ephemeral volume whose claim template has no access mode",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "e", ephemeral: { volumeClaimTemplate: { spec: { resources: { requests: { storage: "1Gi" } } } } } }] }),
    field: "spec.devicePlugin.volumes[0].ephemeral.volumeClaimTemplate.spec.accessModes",
    expect: ACCESS_MODES_REQUIRED_MESSAGE,
    daemonSet: "devicePlugin",
  },
  // ---- the rarer volume sources: the formats left to the controllers
  {
    name: "iscsi volume whose iqn starts with iqn but is not an IQN",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "i", iscsi: { targetPortal: "10.0.0.1:3260", iqn: "iqn.bad", lun: 0 } }] }),
    field: "spec.devicePlugin.volumes[0].iscsi.iqn",
    expect: ISCSI_FORMAT_MESSAGE,
    daemonSet: "devicePlugin",
    controllerOnly: true,
  },
  {
    name: "quobyte volume whose registry is not host:port",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "q", quobyte: { registry: "registry.example.com", volume: "v" } }] }),
    field: "spec.devicePlugin.volumes[0].quobyte.registry",
    expect: QUOBYTE_REGISTRY_MESSAGE,
    daemonSet: "devicePlugin",
    controllerOnly: true,
  },
  {
    name: "flexVolume option in the kubernetes.io namespace",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "x", flexVolume: { driver: "example.com/flex", options: { "kubernetes.io/secret": "x" } } }] }),
    field: "spec.devicePlugin.volumes[0].flexVolume.options[kubernetes.io/secret]",
    expect: FLEX_RESERVED_MESSAGE,
    daemonSet: "devicePlugin",
    controllerOnly: true,
  },
  {
    name: "ephemeral volume whose claim template names an unknown access mode",
    kind: 2,
    spec: withDevicePlugin({}, { volumes: [{ name: "e", ephemeral: { volumeClaimTemplate: { spec: { accessModes: ["ReadWriteSometimes"], resources: { requests: { storage: "1Gi" } } } } } }] }),
    field: "spec.devicePlugin.volumes[0].ephemeral.volumeClaimTemplate.spec.accessModes",
    expect: 'Unsupported value: "ReadWriteSometimes": supported values: "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"',
    daemonSet: "devicePlugin",
    controllerOnly: true,
  },
  // ---- extended resources and huge pages
  {
    name: "fractional extended resource",
    kind: 2,
    spec: withDevicePlugin({ resources: { limits: { "example.com/gpu": "1500m" }, requests: { "example.com/gpu": "1500m" } } }),
    field: "spec.devicePlugin.container.resources.limits",
    expect: INTEGER_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "extended resource requested below its limit",
    kind: 2,
    spec: withDevicePlugin({ resources: { limits: { "example.com/gpu": 2 }, requests: { "example.com/gpu": 1 } } }),
    field: "spec.devicePlugin.container.resources.requests",
    expect: "must be equal to example.com/gpu limit of 2",
    daemonSet: "devicePlugin",
  },
  {
    name: "huge pages without cpu or memory",
    kind: 2,
    spec: withDevicePlugin({ resources: { limits: { "hugepages-2Mi": "4Mi" }, requests: { "hugepages-2Mi": "4Mi" } } }),
    field: "spec.devicePlugin.container.resources",
    expect: HUGEPAGES_CPU_MEMORY_MESSAGE,
    daemonSet: "devicePlugin",
  },
  {
    name: "huge pages that are not a multiple of the page size",
    kind: 2,
    spec: withDevicePlugin({ resources: { limits: { memory: "1Gi", "hugepages-2Mi": "3Mi" }, requests: { "hugepages-2Mi": "3Mi" } } }),
    field: "spec.devicePlugin.container.resources.limits",
    expect: "3Mi is not positive integer multiple of hugepages-2Mi",
    daemonSet: "devicePlugin",
  },
  // ---- probes
  {
    name: "httpGet probe header name with a space",
    kind: 2,
    spec: withDevicePlugin({ livenessProbe: { httpGet: { port: 8080, path: "/healthz", httpHeaders: [{ name: "Bad Header", value: "x" }] } } }),
    field: "spec.devicePlugin.container.livenessProbe.httpGet.httpHeaders",
    expect: HTTP_HEADER_NAME_REGEX_MESSAGE,
    daemonSet: "devicePlugin",
  },
  // ---- upstream KMM's webhook (kind 3)
  {
    name: "hostPath volume outside /dev, /sys, /var, /opt and /run",
    kind: 3,
    spec: withDevicePlugin({}, { volumes: [hostPath("/etc/kmm")] }),
    field: "spec.devicePlugin.volumes[0].hostPath.path",
    expect: HOST_PATH_PREFIX_MESSAGE,
  },
  {
    name: "hostPath volume that only starts like an allowed one",
    kind: 3,
    spec: withDevicePlugin({}, { volumes: [hostPath("/variable")] }),
    field: "spec.devicePlugin.volumes[0].hostPath.path",
    expect: HOST_PATH_PREFIX_MESSAGE,
  },
  {
    name: "inTreeModulesToRemove and inTreeModuleToRemove in the container",
    kind: 3,
    spec: withLoader((c) => {
      c.inTreeModulesToRemove = ["a"];
      c.inTreeModuleToRemove = "b";
    }),
    field: "spec.moduleLoader.container.inTreeModuleToRemove",
    expect: IN_TREE_BOTH_MESSAGE,
    celOnly: true,
  },
  {
    name: "inTreeModulesToRemove and inTreeModuleToRemove in a kernel mapping",
    kind: 3,
    spec: withLoader((c) => {
      Object.assign(firstMapping(c), { inTreeModulesToRemove: [], inTreeModuleToRemove: "b" });
    }),
    field: "spec.moduleLoader.container.kernelMappings[0].inTreeModuleToRemove",
    expect: IN_TREE_BOTH_MESSAGE,
    celOnly: true,
  },
  {
    name: "inTreeModulesToRemove in a mapping, inTreeModuleToRemove in the container",
    kind: 3,
    spec: withLoader((c) => {
      c.inTreeModuleToRemove = "b";
      firstMapping(c).inTreeModulesToRemove = ["a"];
    }),
    field: "spec.moduleLoader.container.kernelMappings",
    expect: IN_TREE_MIXED_MESSAGE,
    celOnly: true,
  },
  {
    name: "inTreeModuleToRemove in a mapping, inTreeModulesToRemove in the container",
    kind: 3,
    spec: withLoader((c) => {
      c.inTreeModulesToRemove = ["a"];
      firstMapping(c).inTreeModuleToRemove = "b";
    }),
    field: "spec.moduleLoader.container.kernelMappings",
    expect: IN_TREE_MIXED_MESSAGE,
    celOnly: true,
  },
  {
    name: "filesToSign outside dirName (container sign)",
    kind: 3,
    spec: withLoader((c) => {
      c.sign = { ...signature, filesToSign: ["/lib/modules/kmm_ci_a.ko"] };
    }),
    field: "spec.moduleLoader.container.sign.filesToSign",
    expect: 'filesToSign entry "/lib/modules/kmm_ci_a.ko" is not under modprobe.dirName "/opt"',
    celOnly: true,
  },
  {
    name: "filesToSign outside a custom dirName (mapping sign)",
    kind: 3,
    spec: withLoader((c) => {
      c.modprobe = { moduleName: "kmm_ci_a", dirName: "/usr" };
      firstMapping(c).sign = { ...signature, filesToSign: ["/usrlib/kmm_ci_a.ko"] };
    }),
    field: "spec.moduleLoader.container.kernelMappings",
    expect: 'filesToSign entry "/usrlib/kmm_ci_a.ko" of a kernel mapping is not under modprobe.dirName "/usr"',
    celOnly: true,
  },
  {
    name: "kernel mapping regexp that is not RE2",
    kind: 3,
    spec: withLoader((c) => {
      firstMapping(c).regexp = "^(.+$";
    }),
    field: "spec.moduleLoader.container.kernelMappings[0]",
    expect: REGEXP_SYNTAX_MESSAGE,
    serverDetail: "error parsing regexp: missing closing ): `^(.+$`",
    celOnly: true,
  },
];

/** Inputs next to the refused ones that Kubernetes and upstream KMM admit: the CRD must admit them too. */
export const validPodFieldCases: { name: string; spec: Spec }[] = [
  {
    name: "tolerations Kubernetes admits (empty key with Exists, empty effect, NoExecute with seconds)",
    spec: withTolerations(
      { operator: "Exists" },
      { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
      { key: "accel", value: "", effect: "" },
      { key: "node.kubernetes.io/unreachable", operator: "Equal", value: "yes", effect: "NoExecute", tolerationSeconds: 30 },
    ),
  },
  {
    name: "selector with prefixed keys and empty values",
    spec: withSelector({ "feature.node.kubernetes.io/pci-10de.present": "true", "node-role.kubernetes.io/worker": "", arch: "amd64" }),
  },
  {
    name: "a device plugin using env, resources, volumes, mounts and probes",
    spec: withDevicePlugin(
      {
        env: [
          { name: "PLAIN", value: "x" },
          { name: "my.env-name", value: "relaxed names are valid since Kubernetes 1.34" },
          { name: "NODE", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
          { name: "APP", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.labels['app']" } } },
          { name: "CPU", valueFrom: { resourceFieldRef: { resource: "limits.cpu" } } },
          { name: "TOKEN", valueFrom: { secretKeyRef: { name: "token", key: "token", optional: true } } },
          { name: "CERT", valueFrom: { secretKeyRef: { name: "tls", key: "tls.crt" } } },
          { name: "MODE", valueFrom: { configMapKeyRef: { name: "plugin-config", key: "MODE_NAME" } } },
          { name: "OWNER", valueFrom: { fieldRef: { fieldPath: "metadata.annotations['Example.com/Owner']" } } },
          // Kubernetes compares the canonical form: 1000m is 1, 1k is 1k, 1Mi is 1Mi.
          { name: "CPUS", valueFrom: { resourceFieldRef: { resource: "limits.cpu", divisor: "1000m" } } },
          { name: "MEM_K", valueFrom: { resourceFieldRef: { resource: "requests.memory", divisor: "1k" } } },
          { name: "MEM_MI", valueFrom: { resourceFieldRef: { resource: "limits.memory", divisor: "1Mi" } } },
          { name: "MILLICPU", valueFrom: { resourceFieldRef: { resource: "requests.cpu", divisor: "1m" } } },
        ],
        resources: {
          limits: { cpu: 1, memory: "1Gi", "example.com/gpu": "2", "hugepages-2Mi": "4Mi" },
          requests: { cpu: "500m", memory: "512Mi", "example.com/gpu": 2, "hugepages-2Mi": "4Mi" },
        },
        volumeMounts: [
          { name: "dev", mountPath: "/dev", mountPropagation: "HostToContainer" },
          { name: "run", mountPath: "/host/run", readOnly: true, recursiveReadOnly: "IfPossible" },
          { name: "config", mountPath: "/etc/plugin", subPath: "conf.d" },
        ],
        livenessProbe: {
          httpGet: { port: "healthz", path: "/healthz", scheme: "HTTPS", httpHeaders: [{ name: "X-Custom-Header", value: "with spaces" }] },
          successThreshold: 1,
          periodSeconds: 10,
        },
        startupProbe: { tcpSocket: { port: 8080 }, failureThreshold: 30 },
      },
      {
        initContainer: { image: DP_IMAGE, command: ["/bin/init"], volumeMounts: [{ name: "config", mountPath: "/etc/plugin" }] },
        volumes: [
          { name: "dev", hostPath: { path: "/dev", type: "Directory" } },
          { name: "run", hostPath: { path: "//run/./nvidia" } },
          { name: "config", configMap: { name: "plugin-config", defaultMode: 0o644, items: [{ key: "conf", path: "conf.d/plugin.conf" }] } },
          { name: "scratch", emptyDir: { sizeLimit: "1Gi" } },
          { name: "info", downwardAPI: { items: [{ path: "labels", fieldRef: { fieldPath: "metadata.labels" } }, { path: "dir/name", fieldRef: { fieldPath: "metadata.name" }, mode: 0o444 }] } },
          {
            name: "projected",
            projected: {
              sources: [
                { serviceAccountToken: { path: "token", expirationSeconds: 3600, audience: "plugin" } },
                { configMap: { name: "plugin-config", items: [{ key: "conf", path: "conf" }] } },
                { downwardAPI: { items: [{ path: "owner", fieldRef: { fieldPath: "metadata.annotations['example.com/owner']" } }] } },
              ],
            },
          },
          // Kubernetes lower-cases the driver name before its DNS subdomain check.
          { name: "csi", csi: { driver: "Secrets-Store.csi.k8s.io", readOnly: true } },
          { name: "nfs", nfs: { server: "nfs.example.com", path: "/exports/plugin" } },
          {
            name: "ephemeral",
            ephemeral: { volumeClaimTemplate: { spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } } } },
          },
          // No source: Kubernetes defaults it to emptyDir.
          { name: "defaulted" },
        ],
        serviceAccountName: "device-plugin",
      },
    ),
  },
  {
    name: "the rarer volume sources as Kubernetes admits them",
    spec: withDevicePlugin(
      {},
      {
        volumes: [
          { name: "iscsi", iscsi: { targetPortal: "10.0.0.1:3260", iqn: "iqn.2001-04.com.example:storage.disk1", lun: 0, initiatorName: "iqn.2001-04.com.example:node1", chapAuthSession: true, secretRef: { name: "chap" } } },
          { name: "eui", iscsi: { targetPortal: "10.0.0.2:3260", iqn: "eui.02004567A425678D", lun: 255 } },
          { name: "rbd", rbd: { monitors: ["10.0.0.3:6789"], image: "plugin" } },
          { name: "cephfs", cephfs: { monitors: ["10.0.0.3:6789"] } },
          { name: "fc", fc: { targetWWNs: ["500a0982991b8dc5"], lun: 2 } },
          { name: "wwids", fc: { wwids: ["3600508b400105e210000900000490000"] } },
          { name: "azure-file", azureFile: { secretName: "azure", shareName: "plugin" } },
          { name: "azure-disk", azureDisk: { diskName: "d", diskURI: "/subscriptions/s/resourcegroups/g/providers/microsoft.compute/disks/d", kind: "Managed", cachingMode: "ReadOnly" } },
          { name: "gce", gcePersistentDisk: { pdName: "disk", partition: 1 } },
          { name: "git", gitRepo: { repository: "https://example.com/r.git", directory: "." } },
          { name: "quobyte", quobyte: { registry: "q1.example.com:7861,[::1]:7861", volume: "v" } },
          { name: "flex", flexVolume: { driver: "example.com/flex", options: { "example.com/mode": "fast" } } },
          { name: "scratch", ephemeral: { volumeClaimTemplate: { metadata: { labels: { app: "plugin" } }, spec: { accessModes: ["ReadWriteOncePod"], storageClassName: "fast", resources: { requests: { storage: "1Gi" } } } } } },
        ],
      },
    ),
  },
  {
    name: "hostPath exactly /run, a version, a ServiceAccount",
    spec: {
      ...withLoader(
        (c) => {
          c.version = "1.0.0_rc-1";
        },
        { serviceAccountName: "kmm-module-loader" },
      ),
      devicePlugin: { container: { image: DP_IMAGE }, volumes: [hostPath("/run")] },
    },
  },
  {
    name: "in-tree removal with the same field at both levels",
    spec: withLoader((c) => {
      c.inTreeModulesToRemove = ["a"];
      firstMapping(c).inTreeModulesToRemove = ["b"];
    }),
  },
  {
    name: "deprecated in-tree removal at both levels",
    spec: withLoader((c) => {
      c.inTreeModuleToRemove = "a";
      firstMapping(c).inTreeModuleToRemove = "b";
    }),
  },
  {
    name: "filesToSign under a custom dirName, with a glob",
    spec: withLoader((c) => {
      c.modprobe = { moduleName: "kmm_ci_a", dirName: "/usr/lib" };
      c.sign = { ...signature, filesToSign: ["/usr/lib/modules/${KERNEL_FULL_VERSION}/*.ko"] };
    }),
  },
];
