// The Kubernetes types a Module copies into pods (tolerations, node selector, env, resources,
// volumes, mounts, probes, ServiceAccount names) with Kubernetes' own validation attached, so the
// API server refuses at admission what it would otherwise refuse on every DaemonSet apply.
// Each rule names the Kubernetes check it mirrors (pkg/apis/core/validation, v1.34) and gives its
// message; CEL calls the API server's `format` and quantity libraries, which run Kubernetes' Go code.
import { z } from "zod";
import {
  envVarSchema,
  probeSchema,
  resourceRequirementsSchema,
  tolerationSchema,
  volumeMountSchema,
  volumeSchema,
} from "../k8s/core.generated.ts";
import {
  celList,
  celUnsupportedValue,
  DNS1123_LABEL_REGEX_MESSAGE,
  DNS1123_SUBDOMAIN_REGEX_MESSAGE,
  isQualifiedName,
  isQuantity,
  isRelaxedEnvVarName,
  LABEL_VALUE_REGEX_MESSAGE,
  NO_DOTS_MESSAGE,
  QUALIFIED_NAME_LENGTH_MESSAGE,
  QUALIFIED_NAME_PREFIX_MESSAGE,
  QUALIFIED_NAME_REGEX_MESSAGE,
  QUALIFIED_NAME_SLASHES_MESSAGE,
  RE2,
  unsupportedValue,
} from "./k8s-validation.ts";
import { withRules, type AdmissionRule } from "./rules.ts";

// Bounds keep the CEL cost estimate within the API server's budget. Each is far above what
// Kubernetes itself admits for the field (a label value is 63 characters, a qualified name 317),
// so that the longer values still get Kubernetes' own message from the rules below.
export const MAX_TOLERATIONS = 64;
export const MAX_SELECTOR_LABELS = 64;
export const MAX_LABEL_STRING_LENGTH = 1024;
export const MAX_NAME_LENGTH = 1024;
export const MAX_ENV = 2048;
export const MAX_ENV_NAME_LENGTH = 1024;
export const MAX_FIELD_PATH_LENGTH = 256;
export const MAX_VOLUMES = 64;
export const MAX_VOLUME_MOUNTS = 64;
export const MAX_PATH_LENGTH = 4096;
export const MAX_RESOURCES = 32;
export const MAX_QUANTITY_LENGTH = 64;

/** An int-or-string (Quantity, port) whose string form is bounded, for the CEL cost budget. */
export function boundedIntOrString(max: number) {
  return z.union([z.int(), z.string().max(max)]).meta({ "x-kubernetes-int-or-string": true, maxLength: max });
}

/**
 * One of Kubernetes' string checks, as CEL (over an expression) and TypeScript, with Kubernetes'
 * message. Static messages: a messageExpression built from the value costs more than the API
 * server's budget allows for maps and lists.
 */
interface StringCheck {
  cel: (x: string) => string;
  ok: (s: string) => boolean;
  message: string;
}
const re = (source: string) => new RegExp(source);
/** A RE2 pattern as a CEL string literal (backslashes doubled). */
const celRegex = (source: string) => `'${source.replaceAll("\\", "\\\\")}'`;
const matches = (x: string, source: string) => `${x}.matches(${celRegex(source)})`;

export type KubernetesFormat = "qualifiedName" | "labelValue" | "dns1123Label" | "dns1123Subdomain";

/** Kubernetes' bound for each format; the schema's maxLength carries it. */
export const FORMAT_MAX_LENGTH: Record<KubernetesFormat, number> = {
  qualifiedName: 317,
  labelValue: 63,
  dns1123Label: 63,
  dns1123Subdomain: 253,
};

export const FORMAT_CHECKS: Record<KubernetesFormat, StringCheck[]> = {
  labelValue: [{ cel: (x) => matches(x, RE2.labelValue), ok: (v) => re(RE2.labelValue).test(v), message: LABEL_VALUE_REGEX_MESSAGE }],
  dns1123Subdomain: [
    { cel: (x) => matches(x, RE2.dns1123Subdomain), ok: (v) => re(RE2.dns1123Subdomain).test(v), message: DNS1123_SUBDOMAIN_REGEX_MESSAGE },
  ],
  dns1123Label: [
    {
      cel: (x) => `${matches(x, RE2.dns1123Label)} || ${matches(x, RE2.dns1123Subdomain)}`,
      ok: (v) => re(RE2.dns1123Label).test(v) || re(RE2.dns1123Subdomain).test(v),
      message: DNS1123_LABEL_REGEX_MESSAGE,
    },
    {
      cel: (x) => `${matches(x, RE2.dns1123Label)} || !${matches(x, RE2.dns1123Subdomain)}`,
      ok: (v) => re(RE2.dns1123Label).test(v) || !re(RE2.dns1123Subdomain).test(v),
      message: NO_DOTS_MESSAGE,
    },
  ],
  qualifiedName: [
    { cel: (x) => `!${matches(x, "/.*/")}`, ok: (v) => v.split("/").length <= 2, message: QUALIFIED_NAME_SLASHES_MESSAGE },
    {
      cel: (x) => `!${x}.contains('/') || ${matches(x, RE2.qualifiedNamePrefix)}`,
      ok: (v) => !v.includes("/") || re(RE2.qualifiedNamePrefix).test(v),
      message: QUALIFIED_NAME_PREFIX_MESSAGE,
    },
    { cel: (x) => matches(x, RE2.qualifiedNamePart), ok: (v) => re(RE2.qualifiedNamePart).test(v), message: QUALIFIED_NAME_REGEX_MESSAGE },
    { cel: (x) => `!${matches(x, "(^|/)[^/]{64,}$")}`, ok: (v) => !/(^|\/)[^/]{64,}$/.test(v), message: QUALIFIED_NAME_LENGTH_MESSAGE },
  ],
};

/** Rules applying a format to an optional string field of an object ("" counts as unset). */
export function formatFieldRules<T>(format: KubernetesFormat, field: string, get: (v: T) => string | undefined, fieldPath = `.${field}`, when = "true", whenOk: (v: T) => boolean = () => true): AdmissionRule<T>[] {
  return FORMAT_CHECKS[format].map((c) => ({
    rule: `!(${when}) || !has(self.${field}) || self.${field} == '' || ${c.cel(`self.${field}`)}`,
    message: c.message,
    fieldPath,
    check: (v: T) => {
      const s = get(v);
      return !whenOk(v) || s === undefined || s === "" || c.ok(s);
    },
  }));
}

/**
 * A string field that must pass a Kubernetes name check when set; "" counts as unset, as for
 * upstream's Go clients (omitempty).
 */
export function kubernetesName(format: KubernetesFormat, description: string) {
  return withRules(
    z.string().max(FORMAT_MAX_LENGTH[format]).meta({ description }),
    FORMAT_CHECKS[format].map((c) => ({ rule: `self == '' || ${c.cel("self")}`, message: c.message, check: (v: string) => v === "" || c.ok(v) })),
  );
}

// ---------------------------------------------------------------- tolerations (ValidateTolerations)

export const TOLERATION_OPERATORS = ["Equal", "Exists"] as const;
export const TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"] as const;
export const TOLERATION_EMPTY_KEY_MESSAGE =
  'operator must be Exists when `key` is empty, which means "match all values and all keys"';
export const TOLERATION_SECONDS_MESSAGE = "effect must be 'NoExecute' when `tolerationSeconds` is set";
export const TOLERATION_EXISTS_VALUE_MESSAGE = "value must be empty when `operator` is 'Exists'";

type Toleration = z.infer<typeof tolerationSchema>;
const isEqualOperator = (t: Toleration) => t.operator === undefined || t.operator === "" || t.operator === "Equal";

const tolerationRules: AdmissionRule<Toleration>[] = [
  ...formatFieldRules<Toleration>("qualifiedName", "key", (t) => t.key),
  {
    rule: "(has(self.key) && self.key != '') || (has(self.operator) && self.operator == 'Exists')",
    message: TOLERATION_EMPTY_KEY_MESSAGE,
    fieldPath: ".operator",
    check: (t) => (t.key ?? "") !== "" || t.operator === "Exists",
  },
  {
    rule: "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
    message: TOLERATION_SECONDS_MESSAGE,
    fieldPath: ".effect",
    check: (t) => t.tolerationSeconds === undefined || t.effect === "NoExecute",
  },
  {
    rule: `!has(self.operator) || self.operator in ${celList(["", ...TOLERATION_OPERATORS])}`,
    message: unsupportedValue("…", TOLERATION_OPERATORS),
    messageExpression: celUnsupportedValue("self.operator", TOLERATION_OPERATORS),
    messageFor: (t) => unsupportedValue(t.operator ?? "", TOLERATION_OPERATORS),
    fieldPath: ".operator",
    check: (t) => t.operator === undefined || ["", ...TOLERATION_OPERATORS].includes(t.operator),
  },
  // Kubernetes reports a bad value of an Equal toleration on the operator field.
  ...formatFieldRules<Toleration>(
    "labelValue",
    "value",
    (t) => t.value,
    ".operator",
    "!has(self.operator) || self.operator == '' || self.operator == 'Equal'",
    isEqualOperator,
  ),
  {
    rule: "!has(self.value) || size(self.value) <= 63 || (has(self.operator) && self.operator == 'Exists')",
    message: "must be no more than 63 characters",
    fieldPath: ".operator",
    check: (t) => (t.value ?? "").length <= 63 || t.operator === "Exists",
  },
  {
    rule: "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
    message: TOLERATION_EXISTS_VALUE_MESSAGE,
    fieldPath: ".operator",
    check: (t) => t.operator !== "Exists" || (t.value ?? "") === "",
  },
  {
    rule: `!has(self.effect) || self.effect in ${celList(["", ...TAINT_EFFECTS])}`,
    message: unsupportedValue("…", TAINT_EFFECTS),
    messageExpression: celUnsupportedValue("self.effect", TAINT_EFFECTS),
    messageFor: (t) => unsupportedValue(t.effect ?? "", TAINT_EFFECTS),
    fieldPath: ".effect",
    check: (t) => t.effect === undefined || ["", ...TAINT_EFFECTS].includes(t.effect),
  },
];

const tolerationShape = tolerationSchema.shape;
export const validatedTolerationSchema = withRules(
  tolerationSchema.extend({
    key: tolerationShape.key.unwrap().max(FORMAT_MAX_LENGTH.qualifiedName).optional(),
    operator: tolerationShape.operator.unwrap().max(MAX_LABEL_STRING_LENGTH).optional(),
    value: tolerationShape.value.unwrap().max(MAX_LABEL_STRING_LENGTH).optional(),
    effect: tolerationShape.effect.unwrap().max(MAX_LABEL_STRING_LENGTH).optional(),
  }),
  tolerationRules,
);

export const tolerationsSchema = z.array(validatedTolerationSchema).max(MAX_TOLERATIONS);

// ---------------------------------------------------------------- node selector (ValidateLabels)

/** A label map copied into a pod's nodeSelector: Kubernetes' label key and value rules (ValidateLabels). */
export function nodeSelectorSchema(description: string) {
  const rules: AdmissionRule<Record<string, string>>[] = [
    ...FORMAT_CHECKS.qualifiedName.map((c) => ({
      rule: `self.all(k, ${c.cel("k")})`,
      message: c.message,
      check: (m: Record<string, string>) => Object.keys(m).every(c.ok),
    })),
    ...FORMAT_CHECKS.labelValue.map((c) => ({
      rule: `self.all(k, ${c.cel("self[k]")})`,
      message: c.message,
      check: (m: Record<string, string>) => Object.values(m).every(c.ok),
    })),
  ];
  return withRules(
    z
      .record(z.string(), z.string().max(FORMAT_MAX_LENGTH.labelValue))
      .refine((m) => Object.keys(m).length <= MAX_SELECTOR_LABELS, { message: `must have at most ${MAX_SELECTOR_LABELS} items` })
      .meta({ description, maxProperties: MAX_SELECTOR_LABELS }),
    rules,
  );
}

/** A string used as a label value (e.g. `version`, which becomes a node selector value). */
export function labelValue(description: string) {
  return kubernetesName("labelValue", description);
}

// ---------------------------------------------------------------- env (ValidateEnv, validateEnvVarValueFrom)

/** Printable ASCII but '=' (IsRelaxedEnvVarName, the rule since Kubernetes 1.34). */
const RELAXED_ENV_VAR_NAME_RE2 = "^[ -<>-~]+$";
export const ENV_VALUE_FROM_ONE_OF_MESSAGE =
  "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`";
export const ENV_VALUE_AND_VALUE_FROM_MESSAGE = "may not be specified when `value` is not empty";
export const ENV_MORE_THAN_ONE_SOURCE_MESSAGE = "may not have more than one field specified at a time";
export const ENV_FIELD_PATHS = [
  "metadata.name",
  "metadata.namespace",
  "metadata.uid",
  "spec.nodeName",
  "spec.serviceAccountName",
  "status.hostIP",
  "status.hostIPs",
  "status.podIP",
  "status.podIPs",
] as const;
export const ENV_RESOURCE_FIELDS = [
  "limits.cpu",
  "limits.ephemeral-storage",
  "limits.memory",
  "requests.cpu",
  "requests.ephemeral-storage",
  "requests.memory",
] as const;
/** Field labels the downward API converts (pkg/apis/core/pods ConvertDownwardAPIFieldLabel). */
const CONVERTIBLE_FIELD_LABELS = ["metadata.annotations", "metadata.labels", "spec.restartPolicy", "spec.schedulerName", "status.phase"] as const;
/** Those env may use: ENV_FIELD_PATHS, and spec.host, which old clients send for spec.nodeName. */
const ALLOWED_FIELD_LABELS = [...ENV_FIELD_PATHS, "spec.host"] as const;
// \x27 is the quote: the pattern sits inside a single-quoted CEL string.
const SUBSCRIPTED_FIELD_PATH_RE2 = "^metadata\\\\.(labels|annotations)\\\\[\\\\x27.*\\\\x27\\\\]$";
const subscriptedFieldPath = /^metadata\.(labels|annotations)\['.*'\]$/;
function fieldPathMessage(p: string): string {
  if ((CONVERTIBLE_FIELD_LABELS as readonly string[]).includes(p)) return unsupportedValue(p, ENV_FIELD_PATHS);
  if (p.includes("[")) return `error converting fieldPath: field label does not support subscript: ${p}`;
  return `error converting fieldPath: field label not supported: ${p}`;
}
const HUGEPAGES_RESOURCE_FIELD_RE2 = "^(limits|requests)\\\\.hugepages-";
const hugepagesResourceField = /^(limits|requests)\.hugepages-/;

type EnvVar = z.infer<typeof envVarSchema>;
// fileKeyRef sits behind the EnvFiles feature gate, off in Kubernetes 1.34: the API server drops it.
const sourceCount = (e: EnvVar) =>
  [e.valueFrom?.fieldRef, e.valueFrom?.resourceFieldRef, e.valueFrom?.configMapKeyRef, e.valueFrom?.secretKeyRef].filter(
    (s) => s !== undefined,
  ).length;
const CEL_SOURCE_COUNT =
  "[has(self.valueFrom.fieldRef), has(self.valueFrom.resourceFieldRef), has(self.valueFrom.configMapKeyRef), has(self.valueFrom.secretKeyRef)].filter(x, x).size()";

const envVarRules: AdmissionRule<EnvVar>[] = [
  {
    rule: "size(self.name) > 0",
    message: "environment variable name must be non-empty",
    fieldPath: ".name",
    reason: "FieldValueRequired",
    check: (e) => e.name.length > 0,
  },
  {
    rule: `size(self.name) == 0 || self.name.matches('${RELAXED_ENV_VAR_NAME_RE2}')`,
    message: "a valid environment variable name must consist only of printable ASCII characters other than '='",
    fieldPath: ".name",
    check: (e) => e.name.length === 0 || isRelaxedEnvVarName(e.name).length === 0,
  },
  {
    rule: `!has(self.valueFrom) || ${CEL_SOURCE_COUNT} > 0`,
    message: ENV_VALUE_FROM_ONE_OF_MESSAGE,
    fieldPath: ".valueFrom",
    check: (e) => e.valueFrom === undefined || sourceCount(e) > 0,
  },
  {
    rule: "!has(self.valueFrom) || !has(self.value) || size(self.value) == 0",
    message: ENV_VALUE_AND_VALUE_FROM_MESSAGE,
    fieldPath: ".valueFrom",
    check: (e) => e.valueFrom === undefined || (e.value ?? "") === "",
  },
  {
    rule: `!has(self.valueFrom) || ${CEL_SOURCE_COUNT} <= 1`,
    message: ENV_MORE_THAN_ONE_SOURCE_MESSAGE,
    fieldPath: ".valueFrom",
    check: (e) => e.valueFrom === undefined || sourceCount(e) <= 1,
  },
  {
    rule: `!has(self.valueFrom) || !has(self.valueFrom.fieldRef) || self.valueFrom.fieldRef.fieldPath in ${celList(ALLOWED_FIELD_LABELS)} || self.valueFrom.fieldRef.fieldPath.matches('${SUBSCRIPTED_FIELD_PATH_RE2}')`,
    message: unsupportedValue("…", ENV_FIELD_PATHS),
    messageExpression: `self.valueFrom.fieldRef.fieldPath in ${celList(CONVERTIBLE_FIELD_LABELS)} ? ${celUnsupportedValue("self.valueFrom.fieldRef.fieldPath", ENV_FIELD_PATHS)} : (self.valueFrom.fieldRef.fieldPath.contains('[') ? 'error converting fieldPath: field label does not support subscript: ' + self.valueFrom.fieldRef.fieldPath : 'error converting fieldPath: field label not supported: ' + self.valueFrom.fieldRef.fieldPath)`,
    messageFor: (e) => fieldPathMessage(e.valueFrom?.fieldRef?.fieldPath ?? ""),
    fieldPath: ".valueFrom.fieldRef.fieldPath",
    check: (e) => {
      const p = e.valueFrom?.fieldRef?.fieldPath;
      return p === undefined || (ALLOWED_FIELD_LABELS as readonly string[]).includes(p) || subscriptedFieldPath.test(p);
    },
  },
  {
    rule: "!has(self.valueFrom) || !has(self.valueFrom.fieldRef) || !has(self.valueFrom.fieldRef.apiVersion) || self.valueFrom.fieldRef.apiVersion in ['', 'v1']",
    message: "error converting fieldPath: unsupported pod version",
    messageExpression: "'error converting fieldPath: unsupported pod version: ' + self.valueFrom.fieldRef.apiVersion",
    messageFor: (e) => `error converting fieldPath: unsupported pod version: ${e.valueFrom?.fieldRef?.apiVersion ?? ""}`,
    fieldPath: ".valueFrom.fieldRef.apiVersion",
    check: (e) => ["", "v1", undefined].includes(e.valueFrom?.fieldRef?.apiVersion),
  },
  {
    rule: `!has(self.valueFrom) || !has(self.valueFrom.resourceFieldRef) || self.valueFrom.resourceFieldRef.resource in ${celList(ENV_RESOURCE_FIELDS)} || self.valueFrom.resourceFieldRef.resource.matches('${HUGEPAGES_RESOURCE_FIELD_RE2}')`,
    message: unsupportedValue("…", ENV_RESOURCE_FIELDS),
    messageExpression: celUnsupportedValue("self.valueFrom.resourceFieldRef.resource", ENV_RESOURCE_FIELDS),
    messageFor: (e) => unsupportedValue(e.valueFrom?.resourceFieldRef?.resource ?? "", ENV_RESOURCE_FIELDS),
    fieldPath: ".valueFrom.resourceFieldRef.resource",
    check: (e) => {
      const r = e.valueFrom?.resourceFieldRef?.resource;
      return r === undefined || (ENV_RESOURCE_FIELDS as readonly string[]).includes(r) || hugepagesResourceField.test(r);
    },
  },
];

function boundedStrings<S extends z.ZodObject>(schema: S, max: number): S {
  const shape: Record<string, z.ZodType> = {};
  for (const [k, v] of Object.entries(schema.shape)) {
    if (v instanceof z.ZodString) shape[k] = v.max(max);
    else if (v instanceof z.ZodOptional && v.unwrap() instanceof z.ZodString) shape[k] = (v.unwrap() as z.ZodString).max(max).optional();
  }
  return schema.extend(shape) as unknown as S;
}

const valueFromShape = envVarSchema.shape.valueFrom.unwrap().shape;
export const validatedEnvVarSchema = withRules(
  envVarSchema.extend({
    name: envVarSchema.shape.name.max(MAX_ENV_NAME_LENGTH),
    valueFrom: envVarSchema.shape.valueFrom
      .unwrap()
      .extend({
        fieldRef: boundedStrings(valueFromShape.fieldRef.unwrap(), MAX_FIELD_PATH_LENGTH).optional(),
        resourceFieldRef: boundedStrings(valueFromShape.resourceFieldRef.unwrap(), MAX_FIELD_PATH_LENGTH).optional(),
      })
      .optional(),
  }),
  envVarRules,
);

export const envSchema = z.array(validatedEnvVarSchema).max(MAX_ENV);

// ---------------------------------------------------------------- paths

/** CEL: no `..` element, as validatePathNoBacksteps splits on '/'. */
const celNoBacksteps = (expr: string) =>
  `!(${expr} == '..' || ${expr}.startsWith('../') || ${expr}.endsWith('/..') || ${expr}.contains('/../'))`;
const noBacksteps = (p: string) => !p.split("/").includes("..");
export const BACKSTEPS_MESSAGE = "must not contain '..'";
export const RELATIVE_PATH_MESSAGE = "must be a relative path";
export const FILE_MODE_MESSAGE = "must be a number between 0 and 0777 (octal), both inclusive";

/** validateLocalDescendingPath: relative, no `..` element. */
function localDescendingPathRules<T>(field: string, get: (v: T) => string | undefined): AdmissionRule<T>[] {
  return [
    {
      rule: `!has(self.${field}) || !self.${field}.startsWith('/')`,
      message: RELATIVE_PATH_MESSAGE,
      fieldPath: `.${field}`,
      check: (v) => !(get(v) ?? "").startsWith("/"),
    },
    {
      rule: `!has(self.${field}) || ${celNoBacksteps(`self.${field}`)}`,
      message: BACKSTEPS_MESSAGE,
      fieldPath: `.${field}`,
      check: (v) => noBacksteps(get(v) ?? ""),
    },
  ];
}

// ---------------------------------------------------------------- volume mounts (ValidateVolumeMounts)

export const MOUNT_PROPAGATIONS = ["Bidirectional", "HostToContainer", "None"] as const;
export const RECURSIVE_READ_ONLY = ["Disabled", "Enabled", "IfPossible"] as const;
export const SUBPATH_EXCLUSIVE_MESSAGE = "subPathExpr and subPath are mutually exclusive";
export const RRO_READ_ONLY_MESSAGE = "may only be specified when readOnly is true";
export const RRO_PROPAGATION_MESSAGE = "may only be specified when mountPropagation is None or not specified";

type VolumeMount = z.infer<typeof volumeMountSchema>;
const rroActive = (m: VolumeMount) => m.recursiveReadOnly === "Enabled" || m.recursiveReadOnly === "IfPossible";
const volumeMountRules: AdmissionRule<VolumeMount>[] = [
  { rule: "size(self.name) > 0", message: "volume mount name must be non-empty", fieldPath: ".name", reason: "FieldValueRequired", check: (m) => m.name !== "" },
  { rule: "size(self.mountPath) > 0", message: "mountPath must be non-empty", fieldPath: ".mountPath", reason: "FieldValueRequired", check: (m) => m.mountPath !== "" },
  ...localDescendingPathRules<VolumeMount>("subPath", (m) => m.subPath),
  ...localDescendingPathRules<VolumeMount>("subPathExpr", (m) => m.subPathExpr),
  {
    rule: "!has(self.subPathExpr) || self.subPathExpr == '' || !has(self.subPath) || self.subPath == ''",
    message: SUBPATH_EXCLUSIVE_MESSAGE,
    fieldPath: ".subPathExpr",
    check: (m) => (m.subPathExpr ?? "") === "" || (m.subPath ?? "") === "",
  },
  {
    rule: `!has(self.mountPropagation) || self.mountPropagation in ${celList(MOUNT_PROPAGATIONS)}`,
    message: unsupportedValue("…", MOUNT_PROPAGATIONS),
    messageExpression: celUnsupportedValue("self.mountPropagation", MOUNT_PROPAGATIONS),
    messageFor: (m) => unsupportedValue(m.mountPropagation ?? "", MOUNT_PROPAGATIONS),
    fieldPath: ".mountPropagation",
    check: (m) => m.mountPropagation === undefined || (MOUNT_PROPAGATIONS as readonly string[]).includes(m.mountPropagation),
  },
  {
    rule: `!has(self.recursiveReadOnly) || self.recursiveReadOnly in ${celList(RECURSIVE_READ_ONLY)}`,
    message: unsupportedValue("…", RECURSIVE_READ_ONLY),
    messageExpression: celUnsupportedValue("self.recursiveReadOnly", RECURSIVE_READ_ONLY),
    messageFor: (m) => unsupportedValue(m.recursiveReadOnly ?? "", RECURSIVE_READ_ONLY),
    fieldPath: ".recursiveReadOnly",
    check: (m) => m.recursiveReadOnly === undefined || (RECURSIVE_READ_ONLY as readonly string[]).includes(m.recursiveReadOnly),
  },
  {
    rule: "!has(self.recursiveReadOnly) || !(self.recursiveReadOnly in ['Enabled', 'IfPossible']) || (has(self.readOnly) && self.readOnly)",
    message: RRO_READ_ONLY_MESSAGE,
    fieldPath: ".recursiveReadOnly",
    reason: "FieldValueForbidden",
    check: (m) => !rroActive(m) || m.readOnly === true,
  },
  {
    rule: "!has(self.recursiveReadOnly) || !(self.recursiveReadOnly in ['Enabled', 'IfPossible']) || !has(self.mountPropagation) || self.mountPropagation == 'None'",
    message: RRO_PROPAGATION_MESSAGE,
    fieldPath: ".recursiveReadOnly",
    reason: "FieldValueForbidden",
    check: (m) => !rroActive(m) || m.mountPropagation === undefined || m.mountPropagation === "None",
  },
];

export const validatedVolumeMountSchema = withRules(boundedStrings(volumeMountSchema, MAX_PATH_LENGTH), volumeMountRules);
export const volumeMountsSchema = z.array(validatedVolumeMountSchema).max(MAX_VOLUME_MOUNTS);

// ---------------------------------------------------------------- volumes (ValidateVolumes, validateVolumeSource)

export const HOST_PATH_TYPES = ["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"] as const;
export const VOLUME_TYPE_ONE_MESSAGE = "may not specify more than 1 volume type";
/** Upstream KMM's webhook: a Module's hostPath volumes stay under these host directories. */
export const ALLOWED_HOST_PATH_PREFIXES = ["/dev", "/sys", "/var", "/opt", "/run"] as const;
export const HOST_PATH_PREFIX_MESSAGE =
  "a hostPath volume of a Module must be /dev, /sys, /var, /opt or /run or lie under one of them (upstream KMM's rule)";
/**
 * The path Go's filepath.Clean would reduce to one of the allowed directories or below: repeated
 * slashes and `.` elements fold away (`..` is refused by Kubernetes' own rule beside this one).
 */
const ALLOWED_HOST_PATH_RE2 = `^/(\\\\./|/)*(${ALLOWED_HOST_PATH_PREFIXES.map((p) => p.slice(1)).join("|")})(/.*)?$`;
const allowedHostPath = new RegExp(`^/(\\./|/)*(${ALLOWED_HOST_PATH_PREFIXES.map((p) => p.slice(1)).join("|")})(/.*)?$`);

/** True when upstream KMM admits this hostPath for a Module's volume (after Kubernetes' no-`..` rule). */
export function isAllowedHostPath(path: string): boolean {
  return allowedHostPath.test(path);
}

type Volume = z.infer<typeof volumeSchema>;
const VOLUME_SOURCES = Object.keys(volumeSchema.shape).filter((k) => k !== "name");
const CEL_VOLUME_SOURCE_COUNT = `[${VOLUME_SOURCES.map((s) => `has(self.${s})`).join(", ")}].filter(x, x).size()`;
const volumeSourceCount = (v: Volume) => VOLUME_SOURCES.filter((s) => (v as Record<string, unknown>)[s] !== undefined).length;

const fileMode = (field: string) => `!has(self.${field}) || (self.${field} >= 0 && self.${field} <= 511)`;
const modeOk = (m: number | undefined) => m === undefined || (m >= 0 && m <= 0o777);

type KeyToPath = { key: string; path: string; mode?: number | undefined };
const keyToPathRules: AdmissionRule<KeyToPath>[] = [
  { rule: "size(self.key) > 0", message: "key must be non-empty", fieldPath: ".key", reason: "FieldValueRequired", check: (k) => k.key !== "" },
  { rule: "size(self.path) > 0", message: "path must be non-empty", fieldPath: ".path", reason: "FieldValueRequired", check: (k) => k.path !== "" },
  ...localDescendingPathRules<KeyToPath>("path", (k) => k.path),
  {
    rule: "!self.path.startsWith('..') || self.path.startsWith('../')",
    message: "must not start with '..'",
    fieldPath: ".path",
    check: (k) => !k.path.startsWith("..") || k.path.startsWith("../"),
  },
  { rule: fileMode("mode"), message: FILE_MODE_MESSAGE, fieldPath: ".mode", check: (k) => modeOk(k.mode) },
];

const volumeShape = volumeSchema.shape;
const hostPathShape = volumeShape.hostPath.unwrap();
const configMapShape = volumeShape.configMap.unwrap();
const secretShape = volumeShape.secret.unwrap();
const keyToPathSchema = withRules(boundedStrings(configMapShape.shape.items.unwrap().element, MAX_PATH_LENGTH), keyToPathRules);
const keyToPathList = z.array(keyToPathSchema).max(MAX_VOLUMES);

const volumeRules: AdmissionRule<Volume>[] = [
  {
    rule: "size(self.name) > 0",
    message: "volume name must be non-empty",
    fieldPath: ".name",
    reason: "FieldValueRequired",
    check: (v) => v.name !== "",
  },
  ...formatFieldRules<Volume>("dns1123Label", "name", (v) => v.name),
  {
    rule: `${CEL_VOLUME_SOURCE_COUNT} <= 1`,
    message: VOLUME_TYPE_ONE_MESSAGE,
    reason: "FieldValueForbidden",
    check: (v) => volumeSourceCount(v) <= 1,
  },
  {
    rule: "!has(self.hostPath) || size(self.hostPath.path) > 0",
    message: "path must be non-empty",
    fieldPath: ".hostPath.path",
    reason: "FieldValueRequired",
    check: (v) => v.hostPath === undefined || v.hostPath.path !== "",
  },
  {
    rule: `!has(self.hostPath) || ${celNoBacksteps("self.hostPath.path")}`,
    message: BACKSTEPS_MESSAGE,
    fieldPath: ".hostPath.path",
    check: (v) => v.hostPath === undefined || noBacksteps(v.hostPath.path),
  },
  {
    rule: `!has(self.hostPath) || !has(self.hostPath.type) || self.hostPath.type in ${celList(HOST_PATH_TYPES)}`,
    message: unsupportedValue("…", HOST_PATH_TYPES),
    messageExpression: celUnsupportedValue("self.hostPath.type", HOST_PATH_TYPES),
    messageFor: (v) => unsupportedValue(v.hostPath?.type ?? "", HOST_PATH_TYPES),
    fieldPath: ".hostPath.type",
    check: (v) => v.hostPath?.type === undefined || (HOST_PATH_TYPES as readonly string[]).includes(v.hostPath.type),
  },
  {
    rule: `!has(self.hostPath) || size(self.hostPath.path) == 0 || self.hostPath.path.matches('${ALLOWED_HOST_PATH_RE2}')`,
    message: HOST_PATH_PREFIX_MESSAGE,
    fieldPath: ".hostPath.path",
    reason: "FieldValueForbidden",
    check: (v) => v.hostPath === undefined || v.hostPath.path === "" || isAllowedHostPath(v.hostPath.path),
  },
  {
    rule: "!has(self.configMap) || (has(self.configMap.name) && size(self.configMap.name) > 0)",
    message: "configMap name must be non-empty",
    fieldPath: ".configMap.name",
    reason: "FieldValueRequired",
    check: (v) => v.configMap === undefined || (v.configMap.name ?? "") !== "",
  },
  { rule: `!has(self.configMap) || ${fileMode("configMap.defaultMode")}`, message: FILE_MODE_MESSAGE, fieldPath: ".configMap.defaultMode", check: (v) => modeOk(v.configMap?.defaultMode) },
  {
    rule: "!has(self.secret) || (has(self.secret.secretName) && size(self.secret.secretName) > 0)",
    message: "secretName must be non-empty",
    fieldPath: ".secret.secretName",
    reason: "FieldValueRequired",
    check: (v) => v.secret === undefined || (v.secret.secretName ?? "") !== "",
  },
  { rule: `!has(self.secret) || ${fileMode("secret.defaultMode")}`, message: FILE_MODE_MESSAGE, fieldPath: ".secret.defaultMode", check: (v) => modeOk(v.secret?.defaultMode) },
  {
    rule: "!has(self.persistentVolumeClaim) || size(self.persistentVolumeClaim.claimName) > 0",
    message: "claimName must be non-empty",
    fieldPath: ".persistentVolumeClaim.claimName",
    reason: "FieldValueRequired",
    check: (v) => v.persistentVolumeClaim === undefined || v.persistentVolumeClaim.claimName !== "",
  },
];

export const validatedVolumeSchema = withRules(
  volumeSchema.extend({
    name: volumeShape.name.max(FORMAT_MAX_LENGTH.dns1123Label),
    hostPath: boundedStrings(hostPathShape, MAX_PATH_LENGTH).optional(),
    configMap: configMapShape.extend({ items: keyToPathList.optional(), name: configMapShape.shape.name.unwrap().max(MAX_NAME_LENGTH).optional() }).optional(),
    secret: secretShape.extend({ items: keyToPathList.optional(), secretName: secretShape.shape.secretName.unwrap().max(MAX_NAME_LENGTH).optional() }).optional(),
  }),
  volumeRules,
);
export const volumesSchema = z.array(validatedVolumeSchema).max(MAX_VOLUMES);

// ---------------------------------------------------------------- probes (validateProbe, validateHandler)

export const HANDLER_REQUIRED_MESSAGE = "must specify a handler type";
export const HANDLER_ONE_MESSAGE = "may not specify more than 1 handler type";
export const NON_NEGATIVE_MESSAGE = "must be greater than or equal to 0";
export const PORT_RANGE_MESSAGE = "must be between 1 and 65535, inclusive";
export const PORT_NAME_MESSAGE =
  "must be a port number between 1 and 65535, or an IANA service name: no more than 15 characters, only a-z, 0-9 and '-', at least one letter, no '--', no '-' at either end";
export const HTTP_SCHEMES = ["HTTP", "HTTPS"] as const;
const MAX_PORT_NAME_LENGTH = 15;

type Probe = z.infer<typeof probeSchema>;
type Port = number | string;
const HANDLERS = ["exec", "httpGet", "tcpSocket", "grpc"] as const;
const CEL_HANDLER_COUNT = `[${HANDLERS.map((h) => `has(self.${h})`).join(", ")}].filter(x, x).size()`;
const handlerCount = (p: Probe) => HANDLERS.filter((h) => p[h] !== undefined).length;

/** IsValidPortNum / IsValidPortName (IANA_SVC_NAME) of an int-or-string port. */
export function isValidPort(port: Port): boolean {
  if (typeof port === "number") return port >= 1 && port <= 65535;
  return (
    port.length <= MAX_PORT_NAME_LENGTH &&
    /^[-a-z0-9]+$/.test(port) &&
    /[a-z]/.test(port) &&
    !port.includes("--") &&
    !port.startsWith("-") &&
    !port.endsWith("-")
  );
}
const celValidPort = (p: string) =>
  `(type(${p}) == int ? (${p} >= 1 && ${p} <= 65535) : (size(string(${p})) <= ${MAX_PORT_NAME_LENGTH} && string(${p}).matches('^[-a-z0-9]+$') && string(${p}).matches('[a-z]') && !string(${p}).contains('--') && !string(${p}).startsWith('-') && !string(${p}).endsWith('-')))`;

const celPortMessage = (p: string) => `type(${p}) == int ? '${PORT_RANGE_MESSAGE}' : '${PORT_NAME_MESSAGE.replaceAll("'", "\\'")}'`;
const portMessage = (port: Port) => (typeof port === "number" ? PORT_RANGE_MESSAGE : PORT_NAME_MESSAGE);

const nonNegative = (field: "initialDelaySeconds" | "timeoutSeconds" | "periodSeconds" | "successThreshold" | "failureThreshold"): AdmissionRule<Probe> => ({
  rule: `!has(self.${field}) || self.${field} >= 0`,
  message: NON_NEGATIVE_MESSAGE,
  fieldPath: `.${field}`,
  check: (p) => (p[field] ?? 0) >= 0,
});

const probeRules: AdmissionRule<Probe>[] = [
  { rule: `${CEL_HANDLER_COUNT} > 0`, message: HANDLER_REQUIRED_MESSAGE, reason: "FieldValueRequired", check: (p) => handlerCount(p) > 0 },
  { rule: `${CEL_HANDLER_COUNT} <= 1`, message: HANDLER_ONE_MESSAGE, reason: "FieldValueForbidden", check: (p) => handlerCount(p) <= 1 },
  {
    rule: "!has(self.exec) || (has(self.exec.command) && size(self.exec.command) > 0)",
    message: "command must be non-empty",
    fieldPath: ".exec.command",
    reason: "FieldValueRequired",
    check: (p) => p.exec === undefined || (p.exec.command?.length ?? 0) > 0,
  },
  {
    rule: `!has(self.httpGet) || ${celValidPort("self.httpGet.port")}`,
    message: PORT_NAME_MESSAGE,
    messageExpression: celPortMessage("self.httpGet.port"),
    messageFor: (p) => portMessage(p.httpGet?.port ?? 0),
    fieldPath: ".httpGet.port",
    check: (p) => p.httpGet === undefined || isValidPort(p.httpGet.port),
  },
  {
    rule: `!has(self.httpGet) || !has(self.httpGet.scheme) || self.httpGet.scheme in ${celList(["", ...HTTP_SCHEMES])}`,
    message: unsupportedValue("…", HTTP_SCHEMES),
    messageExpression: celUnsupportedValue("self.httpGet.scheme", HTTP_SCHEMES),
    messageFor: (p) => unsupportedValue(p.httpGet?.scheme ?? "", HTTP_SCHEMES),
    fieldPath: ".httpGet.scheme",
    check: (p) => p.httpGet?.scheme === undefined || ["", ...HTTP_SCHEMES].includes(p.httpGet.scheme),
  },
  {
    rule: `!has(self.tcpSocket) || ${celValidPort("self.tcpSocket.port")}`,
    message: PORT_NAME_MESSAGE,
    messageExpression: celPortMessage("self.tcpSocket.port"),
    messageFor: (p) => portMessage(p.tcpSocket?.port ?? 0),
    fieldPath: ".tcpSocket.port",
    check: (p) => p.tcpSocket === undefined || isValidPort(p.tcpSocket.port),
  },
  {
    rule: "!has(self.grpc) || (self.grpc.port >= 1 && self.grpc.port <= 65535)",
    message: PORT_RANGE_MESSAGE,
    fieldPath: ".grpc.port",
    check: (p) => p.grpc === undefined || (p.grpc.port >= 1 && p.grpc.port <= 65535),
  },
  nonNegative("initialDelaySeconds"),
  nonNegative("timeoutSeconds"),
  nonNegative("periodSeconds"),
  nonNegative("successThreshold"),
  nonNegative("failureThreshold"),
  {
    rule: "!has(self.terminationGracePeriodSeconds) || self.terminationGracePeriodSeconds > 0",
    message: "must be greater than 0",
    fieldPath: ".terminationGracePeriodSeconds",
    check: (p) => p.terminationGracePeriodSeconds === undefined || p.terminationGracePeriodSeconds > 0,
  },
  {
    // Liveness and startup probes (the only ones a Module has); 0 is defaulted to 1 by the API server.
    rule: "!has(self.successThreshold) || self.successThreshold <= 1",
    message: "must be 1",
    fieldPath: ".successThreshold",
    check: (p) => (p.successThreshold ?? 1) <= 1,
  },
];

const probeShape = probeSchema.shape;
const boundedPort = (description: string) => boundedIntOrString(MAX_NAME_LENGTH).meta({ description });
export const validatedProbeSchema = withRules(
  probeSchema.extend({
    httpGet: probeShape.httpGet
      .unwrap()
      .extend({
        port: boundedPort("Name or number of the port to access on the container."),
        scheme: probeShape.httpGet.unwrap().shape.scheme.unwrap().max(MAX_NAME_LENGTH).optional(),
      })
      .optional(),
    tcpSocket: probeShape.tcpSocket
      .unwrap()
      .extend({ port: boundedPort("Number or name of the port to access on the container.") })
      .optional(),
  }),
  probeRules,
);

// ---------------------------------------------------------------- resources (validateResourceRequirements)

export const QUANTITY_MESSAGE = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
export const STANDARD_RESOURCE_MESSAGE = "must be a standard resource for containers";
export const EXTENDED_RESOURCE_MESSAGE = "doesn't follow extended resource name standard";
export const STANDARD_CONTAINER_RESOURCES = ["cpu", "memory", "ephemeral-storage"] as const;
export const RESOURCE_CLAIMS_MESSAGE =
  "a Module's pods have no resourceClaims, so a container cannot reference one: remove claims";

/** A valid quantity below zero (a minus sign and a non-zero digit). */
export function isNegativeQuantity(value: number | string): boolean {
  if (typeof value === "number") return value < 0;
  const mantissa = /^-([0-9.]+)/.exec(value)?.[1];
  return isQuantity(value) && mantissa !== undefined && /[1-9]/.test(mantissa);
}

const SUFFIX: Record<string, number> = {
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
  n: 1e-9, u: 1e-6, m: 1e-3, "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
};
/** A quantity as a number (approximate, for comparisons); NaN when it is not a quantity. */
export function quantityValue(q: number | string): number {
  if (typeof q === "number") return q;
  if (!isQuantity(q)) return Number.NaN;
  const m = /^([+-]?[0-9.]+)(.*)$/.exec(q);
  const mantissa = Number(m?.[1] ?? "NaN");
  const suffix = m?.[2] ?? "";
  if (/^[eE]/.test(suffix)) return mantissa * 10 ** Number(suffix.slice(1));
  return mantissa * (SUFFIX[suffix] ?? Number.NaN);
}

type Resources = z.infer<typeof resourceRequirementsSchema>;
type ResourceList = Record<string, number | string>;

/** validateContainerResourceName: a standard container resource, or a qualified extended resource name. */
export function resourceNameProblems(name: string): string[] {
  const q = isQualifiedName(name);
  if (q.length > 0) return q;
  if (!name.includes("/")) {
    return (STANDARD_CONTAINER_RESOURCES as readonly string[]).includes(name) || name.startsWith("hugepages-") ? [] : [STANDARD_RESOURCE_MESSAGE];
  }
  if (name.includes("kubernetes.io/")) return [];
  return name.startsWith("requests.") || isQualifiedName(`requests.${name}`).length > 0 ? [EXTENDED_RESOURCE_MESSAGE] : [];
}
const CEL_QUALIFIED = (k: string) => FORMAT_CHECKS.qualifiedName.map((c) => `(${c.cel(k)})`).join(" && ");
const CEL_RESOURCE_NAME_OK = (k: string) =>
  `(${k}.contains('/') ? (${k}.contains('kubernetes.io/') || (!${k}.startsWith('requests.') && ${CEL_QUALIFIED(`('requests.' + ${k})`)})) : (${k} in ${celList(STANDARD_CONTAINER_RESOURCES)} || ${k}.startsWith('hugepages-')))`;

/** Requests must not exceed limits; an extended resource or huge pages must request exactly its limit. */
const overcommitAllowed = (name: string) => (!name.includes("/") || name.includes("kubernetes.io/")) && !name.startsWith("hugepages-");
const CEL_OVERCOMMIT = (k: string) => `((!${k}.contains('/') || ${k}.contains('kubernetes.io/')) && !${k}.startsWith('hugepages-'))`;

function resourceListRules(field: "limits" | "requests"): AdmissionRule<Resources>[] {
  const list = (r: Resources): ResourceList => r[field] ?? {};
  return [
    ...FORMAT_CHECKS.qualifiedName.map((c) => ({
      rule: `!has(self.${field}) || self.${field}.all(k, ${c.cel("k")})`,
      message: c.message,
      fieldPath: `.${field}`,
      check: (r: Resources) => Object.keys(list(r)).every(c.ok),
    })),
    {
      rule: `!has(self.${field}) || self.${field}.all(k, ${CEL_QUALIFIED("k")} ? ${CEL_RESOURCE_NAME_OK("k")} : true)`,
      message: STANDARD_RESOURCE_MESSAGE,
      fieldPath: `.${field}`,
      check: (r) => Object.keys(list(r)).every((k) => isQualifiedName(k).length > 0 || resourceNameProblems(k).length === 0),
    },
    {
      rule: `!has(self.${field}) || self.${field}.all(k, isQuantity(string(self.${field}[k])))`,
      message: QUANTITY_MESSAGE,
      fieldPath: `.${field}`,
      check: (r) => Object.values(list(r)).every((v) => isQuantity(v)),
    },
    {
      rule: `!has(self.${field}) || self.${field}.all(k, !isQuantity(string(self.${field}[k])) || !quantity(string(self.${field}[k])).isLessThan(quantity('0')))`,
      message: NON_NEGATIVE_MESSAGE,
      fieldPath: `.${field}`,
      check: (r) => Object.values(list(r)).every((v) => !isNegativeQuantity(v)),
    },
  ];
}

const resourceRules: AdmissionRule<Resources>[] = [
  ...resourceListRules("limits"),
  ...resourceListRules("requests"),
  {
    rule:
      "!has(self.requests) || !has(self.limits) || self.requests.all(k, !(k in self.limits) || !isQuantity(string(self.requests[k])) || !isQuantity(string(self.limits[k])) || quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) <= 0)",
    message: "requests must be less than or equal to their limits",
    messageExpression:
      "'must be less than or equal to ' + self.requests.filter(k, k in self.limits && isQuantity(string(self.requests[k])) && isQuantity(string(self.limits[k])) && quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) > 0)[0] + ' limit of ' + string(self.limits[self.requests.filter(k, k in self.limits && isQuantity(string(self.requests[k])) && isQuantity(string(self.limits[k])) && quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) > 0)[0]])",
    fieldPath: ".requests",
    messageFor: (r) =>
      Object.entries(r.requests ?? {})
        .filter(([k, v]) => r.limits?.[k] !== undefined && quantityValue(v) > quantityValue(r.limits[k] ?? 0))
        .map(([k]) => `must be less than or equal to ${k} limit of ${String(r.limits?.[k])}`)
        .join(", "),
    check: (r) => Object.entries(r.requests ?? {}).every(([k, v]) => r.limits?.[k] === undefined || quantityValue(v) <= quantityValue(r.limits[k] ?? 0)),
  },
  {
    rule: `!has(self.requests) || self.requests.all(k, ${CEL_OVERCOMMIT("k")} || (has(self.limits) && k in self.limits && (!isQuantity(string(self.requests[k])) || !isQuantity(string(self.limits[k])) || quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) == 0)))`,
    message: "Limit must be set for non overcommitable resources (extended resources, huge pages), and the request must equal it",
    fieldPath: ".requests",
    check: (r) =>
      Object.keys(r.requests ?? {}).every((k) => overcommitAllowed(k) || (r.limits !== undefined && k in r.limits)),
  },
  {
    rule: "!has(self.claims) || size(self.claims) == 0",
    message: RESOURCE_CLAIMS_MESSAGE,
    fieldPath: ".claims",
    reason: "FieldValueForbidden",
    check: (r) => (r.claims ?? []).length === 0,
  },
];

const resourceShape = resourceRequirementsSchema.shape;
const boundedResourceList = (schema: typeof resourceShape.limits) =>
  z
    .record(z.string(), boundedIntOrString(MAX_QUANTITY_LENGTH))
    .meta({ description: schema.unwrap().description ?? "" })
    .refine((l) => Object.keys(l).length <= MAX_RESOURCES, { message: `may name at most ${MAX_RESOURCES} resources` })
    .meta({ maxProperties: MAX_RESOURCES })
    .optional();
export const validatedResourceRequirementsSchema = withRules(
  resourceRequirementsSchema.extend({
    limits: boundedResourceList(resourceShape.limits),
    requests: boundedResourceList(resourceShape.requests),
  }),
  resourceRules,
);

// ---------------------------------------------------------------- the device plugin pod as a whole

/** The volume and mount KMM adds to every device plugin pod (upstream's names). */
export const DEVICE_PLUGINS_VOLUME = "kubelet-device-plugins";
export const DEVICE_PLUGINS_PATH = "/var/lib/kubelet/device-plugins";
export const RESERVED_VOLUME_MESSAGE = `Duplicate value: "${DEVICE_PLUGINS_VOLUME}": KMM adds a volume of this name to every device plugin pod`;
export const DUPLICATE_VOLUME_MESSAGE = "Duplicate value: volume names must be unique";
export const MOUNT_NOT_FOUND_MESSAGE = "Not found: every volume mount must name a volume of the device plugin pod (or kubelet-device-plugins)";
export const MOUNT_PATH_UNIQUE_MESSAGE = `must be unique (${DEVICE_PLUGINS_PATH} is already mounted by KMM in the device plugin container)`;
export const BIDIRECTIONAL_MESSAGE = "Bidirectional mount propagation is available only to privileged containers";

interface DevicePluginPod {
  container: { volumeMounts?: VolumeMount[] | undefined };
  initContainer?: { volumeMounts?: VolumeMount[] | undefined } | undefined;
  volumes?: Volume[] | undefined;
}

const volumeNames = (p: DevicePluginPod) => new Set([DEVICE_PLUGINS_VOLUME, ...(p.volumes ?? []).map((v) => v.name)]);
const unknownMounts = (p: DevicePluginPod, mounts: VolumeMount[] | undefined) => (mounts ?? []).filter((m) => !volumeNames(p).has(m.name));
const duplicates = <T>(items: T[]) => items.filter((x, i) => items.indexOf(x) !== i);

function mountRules(container: "container" | "initContainer", taken: string[]): AdmissionRule<DevicePluginPod>[] {
  const mounts = (p: DevicePluginPod) => p[container]?.volumeMounts;
  const m = `self.${container}.volumeMounts`;
  const present = container === "container" ? `has(${m})` : `has(self.initContainer) && has(${m})`;
  const notFound = `${m}.filter(m, m.name != '${DEVICE_PLUGINS_VOLUME}' && !(has(self.volumes) && self.volumes.exists(v, v.name == m.name)))`;
  const takenCel = celList(taken);
  const badPath = `${m}.filter(m, m.mountPath in ${takenCel} || !${m}.exists_one(n, n.mountPath == m.mountPath))`;
  const paths = (p: DevicePluginPod) => [...taken, ...(mounts(p) ?? []).map((x) => x.mountPath)];
  return [
    {
      rule: `!(${present}) || ${notFound}.size() == 0`,
      message: MOUNT_NOT_FOUND_MESSAGE,
      fieldPath: `.${container}.volumeMounts`,
      check: (p) => unknownMounts(p, mounts(p)).length === 0,
    },
    {
      rule: `!(${present}) || ${badPath}.size() == 0`,
      message: MOUNT_PATH_UNIQUE_MESSAGE,
      fieldPath: `.${container}.volumeMounts`,
      check: (p) => duplicates(paths(p)).length === 0,
    },
  ];
}

/** Rules across the device plugin spec: mounts name volumes, names and paths are unique. */
export const devicePluginPodRules: AdmissionRule<DevicePluginPod>[] = [
  {
    rule: `!has(self.volumes) || !self.volumes.exists(v, v.name == '${DEVICE_PLUGINS_VOLUME}')`,
    message: RESERVED_VOLUME_MESSAGE,
    fieldPath: ".volumes",
    check: (p) => !(p.volumes ?? []).some((v) => v.name === DEVICE_PLUGINS_VOLUME),
  },
  {
    rule: "!has(self.volumes) || self.volumes.all(v, self.volumes.exists_one(w, w.name == v.name))",
    message: DUPLICATE_VOLUME_MESSAGE,
    fieldPath: ".volumes",
    check: (p) => duplicates((p.volumes ?? []).map((v) => v.name)).length === 0,
  },
  ...mountRules("container", [DEVICE_PLUGINS_PATH]),
  ...mountRules("initContainer", []),
  {
    rule: "!has(self.initContainer) || !has(self.initContainer.volumeMounts) || !self.initContainer.volumeMounts.exists(m, has(m.mountPropagation) && m.mountPropagation == 'Bidirectional')",
    message: BIDIRECTIONAL_MESSAGE,
    fieldPath: ".initContainer.volumeMounts",
    reason: "FieldValueForbidden",
    check: (p) => !(p.initContainer?.volumeMounts ?? []).some((m) => m.mountPropagation === "Bidirectional"),
  },
];
