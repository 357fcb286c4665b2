// The Kubernetes types a Module copies into pods (tolerations, node selector, env, resources,
// volumes, mounts, probes, ServiceAccount names) with Kubernetes' own validation attached, so the
// API server refuses at admission what it would otherwise refuse on every DaemonSet apply.
// Each rule names the Kubernetes check it mirrors (pkg/apis/core/validation, v1.34) and gives its
// message; CEL calls the API server's `format` and quantity libraries, which run Kubernetes' Go code.
import { z } from "zod";
import { PROTO_KEY, refusingProtoKey } from "../k8s/maps.ts";
import {
  downwardAPIVolumeFileSchema,
  envVarSchema,
  httpHeaderSchema,
  keyToPathSchema as keyToPathBase,
  probeSchema,
  resourceRequirementsSchema,
  tolerationSchema,
  volumeMountSchema,
  volumeProjectionSchema,
  volumeSchema,
} from "../k8s/core.generated.ts";
import {
  celList,
  celUnsupportedValue,
  CONFIG_MAP_KEY_REGEX_MESSAGE,
  DNS1123_LABEL_REGEX_MESSAGE,
  DNS1123_SUBDOMAIN_REGEX_MESSAGE,
  HTTP_HEADER_NAME_REGEX_MESSAGE,
  isConfigMapKey,
  isDNS1123Label,
  isDNS1123Subdomain,
  isHTTPHeaderName,
  isQualifiedName,
  isQuantity,
  isRelaxedEnvVarName,
  isValidLabelValue,
  LABEL_VALUE_REGEX_MESSAGE,
  NO_DOTS_MESSAGE,
  QUALIFIED_NAME_LENGTH_MESSAGE,
  QUALIFIED_NAME_PREFIX_MESSAGE,
  QUALIFIED_NAME_REGEX_MESSAGE,
  QUALIFIED_NAME_SLASHES_MESSAGE,
  RE2,
  supportedValues,
  unsupportedValue,
} from "./k8s-validation.ts";
import { celIsSet, isSet, withRules, type AdmissionRule } from "./rules.ts";

// Bounds keep the CEL cost estimate within the API server's budget. Each is far above what
// Kubernetes itself admits for the field (a label value is 63 characters, a qualified name 317),
// so that the longer values still get Kubernetes' own message from the rules below.
export const MAX_TOLERATIONS = 64;
export const MAX_SELECTOR_LABELS = 64;
export const MAX_LABEL_STRING_LENGTH = 1024;
export const MAX_NAME_LENGTH = 1024;
export const MAX_ENV = 2048;
/** Kubernetes sets no bound on env names; 256 keeps their printable-ASCII check cheap at 2048 entries. */
export const MAX_ENV_NAME_LENGTH = 256;
/** IsConfigMapKey's bound (keys of Secrets and ConfigMaps that env selects). */
export const MAX_CONFIG_MAP_KEY_LENGTH = 253;
export const MAX_FIELD_PATH_LENGTH = 256;
export const MAX_VOLUMES = 64;
export const MAX_VOLUME_MOUNTS = 64;
export const MAX_PATH_LENGTH = 4096;
/** Files of one configMap, secret or downwardAPI volume. */
export const MAX_VOLUME_ITEMS = 64;
/** Paths of files inside volumes, bounded for the cost of their rules over volumes × items. */
export const MAX_ITEM_PATH_LENGTH = 1024;
export const MAX_RESOURCES = 32;
export const MAX_QUANTITY_LENGTH = 64;
export const MAX_HTTP_HEADERS = 32;

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

/**
 * A DNS-1123 subdomain checked without the subdomain regex: the API server prices `matches` at
 * string length × regex length, so a short character-class regex plus constant-cost edge checks
 * costs about half as much, with the same verdict (labels of [a-z0-9] and inner '-', joined by '.').
 * The CEL and TypeScript forms come from these parts; a property test holds them to Kubernetes' regex.
 */
const SUBDOMAIN_PARTS = { charset: "^[-.a-z0-9]+$", edges: ["-", "."], inner: ["..", ".-", "-."] } as const;
export const celDns1123Subdomain = (x: string) =>
  `(${[
    matches(x, SUBDOMAIN_PARTS.charset),
    ...SUBDOMAIN_PARTS.edges.flatMap((c) => [`!${x}.startsWith('${c}')`, `!${x}.endsWith('${c}')`]),
    ...SUBDOMAIN_PARTS.inner.map((c) => `!${x}.contains('${c}')`),
  ].join(" && ")})`;
/** The same check as celDns1123Subdomain, part by part, in TypeScript. */
export const isDns1123SubdomainByParts = (v: string): boolean =>
  re(SUBDOMAIN_PARTS.charset).test(v) &&
  SUBDOMAIN_PARTS.edges.every((c) => !v.startsWith(c) && !v.endsWith(c)) &&
  SUBDOMAIN_PARTS.inner.every((c) => !v.includes(c));

export const FORMAT_CHECKS: Record<KubernetesFormat, StringCheck[]> = {
  labelValue: [{ cel: (x) => matches(x, RE2.labelValue), ok: (v) => re(RE2.labelValue).test(v), message: LABEL_VALUE_REGEX_MESSAGE }],
  dns1123Subdomain: [
    { cel: (x) => celDns1123Subdomain(x), ok: isDns1123SubdomainByParts, message: DNS1123_SUBDOMAIN_REGEX_MESSAGE },
  ],
  // A label is a subdomain without dots: Kubernetes says "must not contain dots" for a valid subdomain.
  dns1123Label: [
    {
      cel: (x) => celDns1123Subdomain(x),
      ok: isDns1123SubdomainByParts,
      message: DNS1123_LABEL_REGEX_MESSAGE,
    },
    {
      cel: (x) => `!${x}.contains('.') || !${celDns1123Subdomain(x)}`,
      ok: (v) => !v.includes(".") || !isDns1123SubdomainByParts(v),
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

/**
 * What Kubernetes says of a label key "__proto__" (ValidateLabels): the issue a label map gives for
 * that key, which zod would otherwise drop from the map (shared/k8s/maps.ts).
 */
export const PROTO_LABEL_KEY_MESSAGES: readonly string[] = FORMAT_CHECKS.qualifiedName.filter((c) => !c.ok(PROTO_KEY)).map((c) => c.message);

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
    refusingProtoKey(z.record(z.string(), z.string().max(FORMAT_MAX_LENGTH.labelValue)), PROTO_LABEL_KEY_MESSAGES)
      .refine((m) => Object.keys(m).length <= MAX_SELECTOR_LABELS, { message: `must have at most ${MAX_SELECTOR_LABELS} items` })
      .meta({ description, maxProperties: MAX_SELECTOR_LABELS }),
    rules,
  );
}

/** A string used as a label value (e.g. `version`, which becomes a node selector value). */
export function labelValue(description: string) {
  return kubernetesName("labelValue", description);
}

// ---------------------------------------------------------------- quantities (k8s.io/apimachinery/pkg/api/resource)

export const QUANTITY_MESSAGE = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
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
  // "1E" is 10^18 (exa); "1e3" and "1E3" are exponents.
  if (/^[eE][-+]?[0-9]+$/.test(suffix)) return mantissa * 10 ** Number(suffix.slice(1));
  return mantissa * (SUFFIX[suffix] ?? Number.NaN);
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
const LABELS_SUBSCRIPT = "metadata.labels['";
const ANNOTATIONS_SUBSCRIPT = "metadata.annotations['";
/**
 * A label or annotation subscript (`metadata.labels['<key>']`), found as Kubernetes finds it
 * (fieldpath.SplitMaybeSubscriptedPath: the prefix, then a trailing `']`); in CEL with constant-cost
 * prefix and suffix checks rather than a regex, which the API server prices by the path's length.
 */
const isSubscriptedFieldPath = (p: string) => (p.startsWith(LABELS_SUBSCRIPT) || p.startsWith(ANNOTATIONS_SUBSCRIPT)) && p.endsWith("']");
const celSubscriptedFieldPath = (p: string) => `((${p}.startsWith("${LABELS_SUBSCRIPT}") || ${p}.startsWith("${ANNOTATIONS_SUBSCRIPT}")) && ${p}.endsWith("']"))`;
function fieldPathMessage(p: string): string {
  if ((CONVERTIBLE_FIELD_LABELS as readonly string[]).includes(p)) return unsupportedValue(p, ENV_FIELD_PATHS);
  if (p.includes("[")) return `error converting fieldPath: field label does not support subscript: ${p}`;
  return `error converting fieldPath: field label not supported: ${p}`;
}
const hugepagesResourceField = /^(limits|requests)\.hugepages-/;
const celHugepagesResourceField = (r: string) => `(${r}.startsWith('limits.hugepages-') || ${r}.startsWith('requests.hugepages-'))`;

// ---- Secret and ConfigMap key selectors (validateSecretKeySelector, validateConfigMapKeySelector)

export const KEY_REQUIRED_MESSAGE = "key must be non-empty";
const CEL_CONFIG_MAP_KEY_CHECKS: { cel: (x: string) => string; ok: (k: string) => boolean; message: string }[] = [
  { cel: (x) => `${x}.matches('${RE2.configMapKey}')`, ok: (k) => isConfigMapKey(k).every((m) => m !== CONFIG_MAP_KEY_REGEX_MESSAGE), message: CONFIG_MAP_KEY_REGEX_MESSAGE },
  { cel: (x) => `${x} != '.'`, ok: (k) => k !== ".", message: "must not be '.'" },
  { cel: (x) => `${x} != '..'`, ok: (k) => k !== "..", message: "must not be '..'" },
  { cel: (x) => `${x} == '..' || !${x}.startsWith('..')`, ok: (k) => k === ".." || !k.startsWith(".."), message: "must not start with '..'" },
];

/**
 * A key selector (`self.valueFrom.secretKeyRef`…): the name must be a DNS subdomain (Kubernetes
 * refuses an empty one too), the key a config map key.
 */
function keySelectorRules<T>(ref: "secretKeyRef" | "configMapKeyRef", get: (v: T) => { name?: string | undefined; key: string } | undefined): AdmissionRule<T>[] {
  const x = `self.valueFrom.${ref}`;
  const present = `has(self.valueFrom) && has(${x})`;
  const key = `${x}.key`;
  return [
    {
      rule: `!(${present}) || (has(${x}.name) && ${celDns1123Subdomain(`${x}.name`)})`,
      message: DNS1123_SUBDOMAIN_REGEX_MESSAGE,
      fieldPath: `.valueFrom.${ref}.name`,
      check: (v) => {
        const s = get(v);
        return s === undefined || re(RE2.dns1123Subdomain).test(s.name ?? "");
      },
    },
    {
      rule: `!(${present}) || size(${key}) > 0`,
      message: KEY_REQUIRED_MESSAGE,
      fieldPath: `.valueFrom.${ref}.key`,
      reason: "FieldValueRequired",
      check: (v) => (get(v)?.key ?? "x") !== "",
    },
    ...CEL_CONFIG_MAP_KEY_CHECKS.map((c) => ({
      rule: `!(${present}) || size(${key}) == 0 || ${c.cel(key)}`,
      message: c.message,
      fieldPath: `.valueFrom.${ref}.key`,
      check: (v: T) => {
        const k = get(v)?.key ?? "";
        return k === "" || c.ok(k);
      },
    })),
  ];
}

// ---- fieldRef subscripts: metadata.labels['<key>'] and metadata.annotations['<key>'] (validateObjectFieldSelector)

/** The key inside a subscripted field path; annotation keys are checked lower-cased, as Kubernetes does. */
function subscriptKey(fieldPath: string): string | undefined {
  if (!isSubscriptedFieldPath(fieldPath)) return undefined;
  if (fieldPath.startsWith(LABELS_SUBSCRIPT)) return fieldPath.slice(LABELS_SUBSCRIPT.length, -2);
  return fieldPath.slice(ANNOTATIONS_SUBSCRIPT.length, -2).toLowerCase();
}

/**
 * Kubernetes' problems with the key of a label or annotation subscript (IsQualifiedName), [] when
 * the path has none or the key is valid. CEL would run four qualified-name checks on a substring of
 * every env entry and downward API file, more than the API server's cost budget allows at the
 * bounds a Module needs, so the controllers report these (upstreamRuleProblems).
 */
export function fieldRefSubscriptProblems(fieldPath: string): string[] {
  const key = subscriptKey(fieldPath);
  return key === undefined ? [] : isQualifiedName(key);
}

// ---- resourceFieldRef divisors (validateContainerResourceDivisor)

const DECIMAL_DIVISORS = ["1", "1k", "1M", "1G", "1T", "1P", "1E"] as const;
const BINARY_DIVISORS = ["1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"] as const;
const SIZE_DIVISORS_TEXT = [...DECIMAL_DIVISORS, ...BINARY_DIVISORS].join(", ");
export const DIVISOR_MESSAGES = {
  cpu: "only divisor's values 1m and 1 are supported with the cpu resource",
  memory: `only divisor's values ${SIZE_DIVISORS_TEXT} are supported with the memory resource`,
  "ephemeral-storage": `only divisor's values ${SIZE_DIVISORS_TEXT} are supported with the local ephemeral storage resource`,
  hugepages: `only divisor's values ${SIZE_DIVISORS_TEXT} are supported with the hugepages resource`,
} as const;
type DivisorKind = keyof typeof DIVISOR_MESSAGES;

/**
 * Kubernetes compares the divisor's canonical form (Quantity.String()) with its lists, so the same
 * value passes or fails by how it is written: "1000m" is "1" and "1024" is not "1Ki". The canonical
 * form follows the suffix family: decimal suffixes give decimal forms; binary ones give binary forms
 * from 1Ki up and decimal ones below; an exponent ("1e3") stays an exponent except for 1.
 */
function allowedDivisorValues(kind: DivisorKind, family: "decimal" | "binary" | "exponent"): string[] {
  if (family === "exponent") return ["1"];
  if (kind === "cpu") return ["1m", "1"];
  return family === "decimal" ? [...DECIMAL_DIVISORS] : ["1", "1k", ...BINARY_DIVISORS];
}
const BINARY_SUFFIX_RE2 = "[KMGTPE]i$";
const EXPONENT_RE2 = "[eE][-+]?[0-9]+$";
function divisorFamily(d: string): "decimal" | "binary" | "exponent" {
  if (new RegExp(BINARY_SUFFIX_RE2).test(d)) return "binary";
  return new RegExp(EXPONENT_RE2).test(d) ? "exponent" : "decimal";
}
/** True when Kubernetes admits this divisor for the resource (a zero divisor counts as unset). */
export function divisorAllowed(resource: string, divisor: number | string): boolean {
  const d = String(divisor);
  const value = quantityValue(d);
  if (Number.isNaN(value) || value === 0) return true;
  const kinds = divisorKinds(resource);
  return kinds.every((k) => allowedDivisorValues(k, divisorFamily(d)).some((a) => Math.abs(quantityValue(a) - value) <= 1e-12 * Math.max(1, value)));
}
function divisorKinds(resource: string): DivisorKind[] {
  const kinds: DivisorKind[] = [];
  if (["limits.cpu", "requests.cpu"].includes(resource)) kinds.push("cpu");
  if (["limits.memory", "requests.memory"].includes(resource)) kinds.push("memory");
  if (["limits.ephemeral-storage", "requests.ephemeral-storage"].includes(resource)) kinds.push("ephemeral-storage");
  if (hugepagesResourceField.test(resource)) kinds.push("hugepages");
  return kinds;
}
const CEL_DIVISOR_RESOURCES: Record<DivisorKind, (r: string) => string> = {
  cpu: (r) => `${r} in ['limits.cpu', 'requests.cpu']`,
  memory: (r) => `${r} in ['limits.memory', 'requests.memory']`,
  "ephemeral-storage": (r) => `${r} in ['limits.ephemeral-storage', 'requests.ephemeral-storage']`,
  hugepages: (r) => celHugepagesResourceField(r),
};
const CEL_SIZE_DIVISOR_RESOURCE = (r: string) => (["memory", "ephemeral-storage", "hugepages"] as const).map((k) => `(${CEL_DIVISOR_RESOURCES[k](r)})`).join(" || ");
/** The static fallback of the divisor rule's message (the API server gives the resource's own). */
export const DIVISOR_MESSAGE = `only divisor's values 1m and 1 (cpu) or ${SIZE_DIVISORS_TEXT} (memory, ephemeral storage, hugepages) are supported`;
function celDivisorAllowed(kind: DivisorKind, d: string): string {
  const q = `quantity(${d})`;
  const inList = (values: string[]) => `${celList(values)}.exists(a, ${q}.compareTo(quantity(a)) == 0)`;
  return `(${q}.compareTo(quantity('0')) == 0 || (${d}.matches('${BINARY_SUFFIX_RE2}') ? ${inList(allowedDivisorValues(kind, "binary"))} : (${d}.matches('${EXPONENT_RE2}') ? ${inList(allowedDivisorValues(kind, "exponent"))} : ${inList(allowedDivisorValues(kind, "decimal"))})))`;
}

/** A resourceFieldRef's divisor: a quantity, and one of the values Kubernetes allows for the resource. */
function divisorRules<T>(base: string, guard: string, fieldPath: string, get: (v: T) => { resource: string; divisor?: number | string | undefined } | undefined): AdmissionRule<T>[] {
  const d = `string(${base}.divisor)`;
  const r = `${base}.resource`;
  const present = `(${guard}) && has(${base}.divisor)`;
  return [
    {
      rule: `!(${present}) || isQuantity(${d})`,
      message: QUANTITY_MESSAGE,
      fieldPath,
      check: (v) => {
        const x = get(v);
        return x?.divisor === undefined || isQuantity(x.divisor);
      },
    },
    // One rule for every resource (memory, ephemeral storage and huge pages share their lists), its
    // message chosen by the resource: four rules cost four times as much for each env entry and file.
    {
      rule: `!(${present}) || !isQuantity(${d}) || (${CEL_DIVISOR_RESOURCES.cpu(r)} ? ${celDivisorAllowed("cpu", d)} : (${CEL_SIZE_DIVISOR_RESOURCE(r)} ? ${celDivisorAllowed("memory", d)} : true))`,
      message: DIVISOR_MESSAGE,
      messageExpression: (["cpu", "memory", "ephemeral-storage"] as const).reduceRight(
        (rest, kind) => `(${CEL_DIVISOR_RESOURCES[kind](r)} ? '${DIVISOR_MESSAGES[kind].replaceAll("'", "\\'")}' : ${rest})`,
        `'${DIVISOR_MESSAGES.hugepages.replaceAll("'", "\\'")}'`,
      ),
      messageFor: (v: T) => {
        const kind = divisorKinds(get(v)?.resource ?? "")[0];
        return kind === undefined ? DIVISOR_MESSAGE : DIVISOR_MESSAGES[kind];
      },
      fieldPath,
      check: (v: T) => {
        const x = get(v);
        return x?.divisor === undefined || !isQuantity(x.divisor) || divisorAllowed(x.resource, x.divisor);
      },
    },
  ];
}

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
    rule: `!has(self.valueFrom) || !has(self.valueFrom.fieldRef) || self.valueFrom.fieldRef.fieldPath in ${celList(ALLOWED_FIELD_LABELS)} || ${celSubscriptedFieldPath("self.valueFrom.fieldRef.fieldPath")}`,
    message: unsupportedValue("…", ENV_FIELD_PATHS),
    messageExpression: `self.valueFrom.fieldRef.fieldPath in ${celList(CONVERTIBLE_FIELD_LABELS)} ? ${celUnsupportedValue("self.valueFrom.fieldRef.fieldPath", ENV_FIELD_PATHS)} : (self.valueFrom.fieldRef.fieldPath.contains('[') ? 'error converting fieldPath: field label does not support subscript: ' + self.valueFrom.fieldRef.fieldPath : 'error converting fieldPath: field label not supported: ' + self.valueFrom.fieldRef.fieldPath)`,
    messageFor: (e) => fieldPathMessage(e.valueFrom?.fieldRef?.fieldPath ?? ""),
    fieldPath: ".valueFrom.fieldRef.fieldPath",
    check: (e) => {
      const p = e.valueFrom?.fieldRef?.fieldPath;
      return p === undefined || (ALLOWED_FIELD_LABELS as readonly string[]).includes(p) || isSubscriptedFieldPath(p);
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
    rule: `!has(self.valueFrom) || !has(self.valueFrom.resourceFieldRef) || self.valueFrom.resourceFieldRef.resource in ${celList(ENV_RESOURCE_FIELDS)} || ${celHugepagesResourceField("self.valueFrom.resourceFieldRef.resource")}`,
    message: unsupportedValue("…", ENV_RESOURCE_FIELDS),
    messageExpression: celUnsupportedValue("self.valueFrom.resourceFieldRef.resource", ENV_RESOURCE_FIELDS),
    messageFor: (e) => unsupportedValue(e.valueFrom?.resourceFieldRef?.resource ?? "", ENV_RESOURCE_FIELDS),
    fieldPath: ".valueFrom.resourceFieldRef.resource",
    check: (e) => {
      const r = e.valueFrom?.resourceFieldRef?.resource;
      return r === undefined || (ENV_RESOURCE_FIELDS as readonly string[]).includes(r) || hugepagesResourceField.test(r);
    },
  },
  ...keySelectorRules<EnvVar>("secretKeyRef", (e) => e.valueFrom?.secretKeyRef),
  ...keySelectorRules<EnvVar>("configMapKeyRef", (e) => e.valueFrom?.configMapKeyRef),
  ...divisorRules<EnvVar>(
    "self.valueFrom.resourceFieldRef",
    "has(self.valueFrom) && has(self.valueFrom.resourceFieldRef)",
    ".valueFrom.resourceFieldRef.divisor",
    (e) => e.valueFrom?.resourceFieldRef,
  ),
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
/** A key selector with Kubernetes' bounds: a DNS subdomain name and a config map key, both 253. */
function keySelectorSchema(schema: typeof valueFromShape.secretKeyRef.def.innerType) {
  return schema.extend({ name: schema.shape.name.unwrap().max(FORMAT_MAX_LENGTH.dns1123Subdomain).optional(), key: schema.shape.key.max(MAX_CONFIG_MAP_KEY_LENGTH) });
}
export const validatedEnvVarSchema = withRules(
  envVarSchema.extend({
    name: envVarSchema.shape.name.max(MAX_ENV_NAME_LENGTH),
    valueFrom: envVarSchema.shape.valueFrom
      .unwrap()
      .extend({
        fieldRef: boundedStrings(valueFromShape.fieldRef.unwrap(), MAX_FIELD_PATH_LENGTH).optional(),
        resourceFieldRef: boundedStrings(valueFromShape.resourceFieldRef.unwrap(), MAX_FIELD_PATH_LENGTH)
          .extend({ divisor: boundedIntOrString(MAX_QUANTITY_LENGTH).optional() })
          .optional(),
        secretKeyRef: keySelectorSchema(valueFromShape.secretKeyRef.unwrap()).optional(),
        configMapKeyRef: keySelectorSchema(valueFromShape.configMapKeyRef.unwrap()).optional(),
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
const keyToPathSchema = withRules(boundedStrings(configMapShape.shape.items.unwrap().element, MAX_ITEM_PATH_LENGTH), keyToPathRules);
const keyToPathList = z.array(keyToPathSchema).max(MAX_VOLUME_ITEMS);

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

// ---- downward API files, in downwardAPI and projected volumes (validateDownwardAPIVolumeFile)

export const MAX_DOWNWARD_API_ITEMS = 16;
/** Field paths of downward API files (a label or annotation key in a subscript fits 128 characters in practice). */
export const MAX_DOWNWARD_FIELD_PATH_LENGTH = 128;
export const MAX_PROJECTED_SOURCES = 4;
export const MAX_PROJECTED_ITEMS = 8;
/** Paths inside projected volumes, shorter still: their rules run over volumes × sources × items. */
export const MAX_PROJECTED_PATH_LENGTH = 128;
export const DOWNWARD_API_ONE_OF_MESSAGE = "one of fieldRef and resourceFieldRef is required";
export const DOWNWARD_API_BOTH_MESSAGE = "fieldRef and resourceFieldRef can not be specified simultaneously";
/** Fields a downward API volume can show (validVolumeDownwardAPIFieldPathExpressions). */
export const VOLUME_FIELD_PATHS = ["metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"] as const;
/** Every field label the downward API converts (ConvertDownwardAPIFieldLabel); the others fail conversion. */
const ALL_FIELD_LABELS: readonly string[] = [...new Set([...ALLOWED_FIELD_LABELS, ...CONVERTIBLE_FIELD_LABELS])];
export const NOT_START_WITH_BACKSTEPS_MESSAGE = "must not start with '..'";

/** ValidateLocalNonReservedPath: relative, no `..` element, not starting with `..`. */
function localNonReservedPathRules<T>(field: string, get: (v: T) => string | undefined): AdmissionRule<T>[] {
  return [
    ...localDescendingPathRules<T>(field, get),
    {
      rule: `!has(self.${field}) || !self.${field}.startsWith('..') || self.${field}.startsWith('../')`,
      message: NOT_START_WITH_BACKSTEPS_MESSAGE,
      fieldPath: `.${field}`,
      check: (v) => {
        const p = get(v) ?? "";
        return !p.startsWith("..") || p.startsWith("../");
      },
    },
  ];
}

type DownwardFile = z.infer<typeof downwardAPIVolumeFileSchema>;
const downwardFileRules: AdmissionRule<DownwardFile>[] = [
  { rule: "size(self.path) > 0", message: "path must be non-empty", fieldPath: ".path", reason: "FieldValueRequired", check: (f) => f.path !== "" },
  ...localNonReservedPathRules<DownwardFile>("path", (f) => f.path),
  { rule: "has(self.fieldRef) || has(self.resourceFieldRef)", message: DOWNWARD_API_ONE_OF_MESSAGE, reason: "FieldValueRequired", check: (f) => f.fieldRef !== undefined || f.resourceFieldRef !== undefined },
  { rule: "!has(self.fieldRef) || !has(self.resourceFieldRef)", message: DOWNWARD_API_BOTH_MESSAGE, check: (f) => f.fieldRef === undefined || f.resourceFieldRef === undefined },
  {
    rule: `!has(self.fieldRef) || self.fieldRef.fieldPath in ${celList(VOLUME_FIELD_PATHS)} || ${celSubscriptedFieldPath("self.fieldRef.fieldPath")}`,
    message: unsupportedValue("…", VOLUME_FIELD_PATHS),
    messageExpression: `self.fieldRef.fieldPath in ${celList(ALL_FIELD_LABELS)} ? ${celUnsupportedValue("self.fieldRef.fieldPath", VOLUME_FIELD_PATHS)} : (self.fieldRef.fieldPath.contains('[') ? 'error converting fieldPath: field label does not support subscript: ' + self.fieldRef.fieldPath : 'error converting fieldPath: field label not supported: ' + self.fieldRef.fieldPath)`,
    messageFor: (f) => {
      const p = f.fieldRef?.fieldPath ?? "";
      if (ALL_FIELD_LABELS.includes(p)) return unsupportedValue(p, VOLUME_FIELD_PATHS);
      return p.includes("[") ? `error converting fieldPath: field label does not support subscript: ${p}` : `error converting fieldPath: field label not supported: ${p}`;
    },
    fieldPath: ".fieldRef.fieldPath",
    check: (f) => f.fieldRef === undefined || (VOLUME_FIELD_PATHS as readonly string[]).includes(f.fieldRef.fieldPath) || isSubscriptedFieldPath(f.fieldRef.fieldPath),
  },
  {
    rule: "!has(self.resourceFieldRef) || has(self.fieldRef) || (has(self.resourceFieldRef.containerName) && size(self.resourceFieldRef.containerName) > 0)",
    message: "containerName must be non-empty",
    fieldPath: ".resourceFieldRef.containerName",
    reason: "FieldValueRequired",
    check: (f) => f.resourceFieldRef === undefined || f.fieldRef !== undefined || (f.resourceFieldRef.containerName ?? "") !== "",
  },
  {
    rule: `!has(self.resourceFieldRef) || has(self.fieldRef) || !has(self.resourceFieldRef.containerName) || size(self.resourceFieldRef.containerName) == 0 || self.resourceFieldRef.resource in ${celList(ENV_RESOURCE_FIELDS)} || ${celHugepagesResourceField("self.resourceFieldRef.resource")}`,
    message: unsupportedValue("…", ENV_RESOURCE_FIELDS),
    messageExpression: celUnsupportedValue("self.resourceFieldRef.resource", ENV_RESOURCE_FIELDS),
    messageFor: (f) => unsupportedValue(f.resourceFieldRef?.resource ?? "", ENV_RESOURCE_FIELDS),
    fieldPath: ".resourceFieldRef.resource",
    check: (f) => {
      const r = f.resourceFieldRef;
      return r === undefined || f.fieldRef !== undefined || (r.containerName ?? "") === "" || (ENV_RESOURCE_FIELDS as readonly string[]).includes(r.resource) || hugepagesResourceField.test(r.resource);
    },
  },
  ...divisorRules<DownwardFile>("self.resourceFieldRef", "has(self.resourceFieldRef) && !has(self.fieldRef)", ".resourceFieldRef.divisor", (f) => (f.fieldRef === undefined ? f.resourceFieldRef : undefined)),
  { rule: fileMode("mode"), message: FILE_MODE_MESSAGE, fieldPath: ".mode", check: (f) => modeOk(f.mode) },
];
const downwardFileShape = downwardAPIVolumeFileSchema.shape;
function downwardFileSchema(pathLength: number) {
  return withRules(
    downwardAPIVolumeFileSchema.extend({
      path: downwardFileShape.path.max(pathLength),
      fieldRef: boundedStrings(downwardFileShape.fieldRef.unwrap(), MAX_DOWNWARD_FIELD_PATH_LENGTH).optional(),
      resourceFieldRef: boundedStrings(downwardFileShape.resourceFieldRef.unwrap(), MAX_FIELD_PATH_LENGTH)
        .extend({ divisor: boundedIntOrString(MAX_QUANTITY_LENGTH).optional() })
        .optional(),
    }),
    downwardFileRules,
  );
}

// ---- projected volumes (validateProjectedVolumeSource, validateProjectionSources)

export const PROJECTION_ONE_MESSAGE = "may not specify more than 1 volume type per source";
export const TOKEN_MIN_EXPIRATION_MESSAGE = "may not specify a duration less than 10 minutes";
export const TOKEN_MAX_EXPIRATION_MESSAGE = "may not specify a duration larger than 2^32 seconds";
export const DUPLICATE_PATHS_MESSAGE = "conflicting duplicate paths";
const PROJECTIONS = ["secret", "configMap", "downwardAPI", "serviceAccountToken", "clusterTrustBundle", "podCertificate"] as const;

type Projection = z.infer<typeof volumeProjectionSchema>;
const projectionRules: AdmissionRule<Projection>[] = [
  {
    rule: `[${PROJECTIONS.map((p) => `has(self.${p})`).join(", ")}].filter(x, x).size() <= 1`,
    message: PROJECTION_ONE_MESSAGE,
    reason: "FieldValueForbidden",
    check: (s) => PROJECTIONS.filter((p) => s[p] !== undefined).length <= 1,
  },
  ...(["secret", "configMap"] as const).map((p) => ({
    rule: `!has(self.${p}) || (has(self.${p}.name) && size(self.${p}.name) > 0)`,
    message: "name must be non-empty",
    fieldPath: `.${p}.name`,
    reason: "FieldValueRequired" as const,
    check: (s: Projection) => s[p] === undefined || (s[p].name ?? "") !== "",
  })),
  {
    rule: "!has(self.serviceAccountToken) || !has(self.serviceAccountToken.expirationSeconds) || self.serviceAccountToken.expirationSeconds >= 600",
    message: TOKEN_MIN_EXPIRATION_MESSAGE,
    fieldPath: ".serviceAccountToken.expirationSeconds",
    check: (s) => (s.serviceAccountToken?.expirationSeconds ?? 3600) >= 600,
  },
  {
    rule: "!has(self.serviceAccountToken) || !has(self.serviceAccountToken.expirationSeconds) || self.serviceAccountToken.expirationSeconds <= 4294967296",
    message: TOKEN_MAX_EXPIRATION_MESSAGE,
    fieldPath: ".serviceAccountToken.expirationSeconds",
    check: (s) => (s.serviceAccountToken?.expirationSeconds ?? 3600) <= 2 ** 32,
  },
  {
    rule: "!has(self.serviceAccountToken) || size(self.serviceAccountToken.path) > 0",
    message: "path must be non-empty",
    fieldPath: ".serviceAccountToken.path",
    reason: "FieldValueRequired",
    check: (s) => s.serviceAccountToken === undefined || s.serviceAccountToken.path !== "",
  },
  ...localNonReservedPathRules<Projection>("serviceAccountToken.path", (s) => s.serviceAccountToken?.path).map((r) => ({
    ...r,
    rule: `!has(self.serviceAccountToken) || (${r.rule})`,
  })),
];

const projectionShape = volumeProjectionSchema.shape;
const projectedKeyToPathList = z.array(withRules(boundedStrings(keyToPathBase, MAX_PROJECTED_PATH_LENGTH), keyToPathRules)).max(MAX_PROJECTED_ITEMS);
const validatedProjectionSchema = withRules(
  volumeProjectionSchema.extend({
    secret: boundedStrings(projectionShape.secret.unwrap(), MAX_NAME_LENGTH).extend({ items: projectedKeyToPathList.optional() }).optional(),
    configMap: boundedStrings(projectionShape.configMap.unwrap(), MAX_NAME_LENGTH).extend({ items: projectedKeyToPathList.optional() }).optional(),
    downwardAPI: projectionShape.downwardAPI
      .unwrap()
      .extend({ items: z.array(downwardFileSchema(MAX_PROJECTED_PATH_LENGTH)).max(MAX_PROJECTED_ITEMS).optional() })
      .optional(),
    serviceAccountToken: boundedStrings(projectionShape.serviceAccountToken.unwrap(), MAX_PATH_LENGTH).optional(),
  }),
  projectionRules,
);

/** The paths a projection source writes, as Kubernetes collects them for its duplicate check. */
export const projectionPaths = (s: Projection): string[] =>
  [...(s.secret?.items ?? []), ...(s.configMap?.items ?? []), ...(s.downwardAPI?.items ?? [])].map((i) => i.path).filter((p) => p !== "");

/**
 * Paths written twice by the sources of one projected volume ("conflicting duplicate paths" in
 * validateProjectionSources). CEL would compare every path with every other one, which the API
 * server's cost budget refuses at any useful bound, so the controllers report it instead
 * (upstreamRuleProblems) before they write anything.
 */
export function duplicateProjectedPaths(sources: readonly Projection[] | undefined): string[] {
  const all = (sources ?? []).flatMap(projectionPaths);
  return [...new Set(all.filter((p, i) => all.indexOf(p) !== i))];
}

type Projected = { defaultMode?: number | undefined; sources?: Projection[] | undefined };
const projectedRules: AdmissionRule<Projected>[] = [
  { rule: fileMode("defaultMode"), message: FILE_MODE_MESSAGE, fieldPath: ".defaultMode", check: (p) => modeOk(p.defaultMode) },
];
const validatedProjectedSchema = withRules(
  volumeShape.projected.unwrap().extend({ sources: z.array(validatedProjectionSchema).max(MAX_PROJECTED_SOURCES).optional() }),
  projectedRules,
);

// ---- emptyDir, csi, nfs, ephemeral (validateVolumeSource and its helpers)

export const SIZE_LIMIT_MESSAGE = "SizeLimit field must be a valid resource quantity";
export const ABSOLUTE_PATH_MESSAGE = "must be an absolute path";
/** Required fields of volume sources, as `[source, field]`: Kubernetes says "Required value". */
const REQUIRED_SOURCE_FIELDS = [
  ["csi", "driver"],
  ["nfs", "server"],
  ["nfs", "path"],
  // The rarer sources (validateVolumeSource's helpers): only presence is checked here; size() is
  // constant-cost in CEL, so these need no maxLength.
  ["gitRepo", "repository"],
  ["gcePersistentDisk", "pdName"],
  ["awsElasticBlockStore", "volumeID"],
  ["iscsi", "targetPortal"],
  ["iscsi", "iqn"],
  ["glusterfs", "endpoints"],
  ["glusterfs", "path"],
  ["rbd", "image"],
  ["cinder", "volumeID"],
  ["quobyte", "registry"],
  ["quobyte", "volume"],
  ["flexVolume", "driver"],
  ["azureFile", "secretName"],
  ["azureFile", "shareName"],
  ["azureDisk", "diskName"],
  ["azureDisk", "diskURI"],
  ["vsphereVolume", "volumePath"],
  ["photonPersistentDisk", "pdID"],
  ["portworxVolume", "volumeID"],
  ["scaleIO", "gateway"],
  ["scaleIO", "system"],
  ["scaleIO", "volumeName"],
  ["storageos", "volumeName"],
] as const;
/** Required non-empty lists. */
const REQUIRED_SOURCE_LISTS = [
  ["rbd", "monitors"],
  ["cephfs", "monitors"],
] as const;
/** Secret references whose name Kubernetes requires when the reference is set. */
const SECRET_REF_SOURCES = ["cinder", "storageos"] as const;
export const PARTITION_MESSAGE = "must be between 1 and 255, inclusive";
export const LUN_MESSAGE = "must be between 0 and 255, inclusive";
export const IQN_PREFIX_MESSAGE = "must be valid format starting with iqn, eui, or naa";
export const ISCSI_NAME_LENGTH_MESSAGE = "Total length of <volume name>:<iscsi.targetPortal> must be under 64 characters if iscsi.initiatorName is specified.";
export const FC_TARGET_MESSAGE = "must specify either targetWWNs or wwids, but not both";
export const FC_BOTH_MESSAGE = "targetWWNs and wwids can not be specified simultaneously";
export const FC_LUN_MESSAGE = "lun is required if targetWWNs is specified";
export const FLOCKER_ONE_MESSAGE = "one of datasetName and datasetUUID is required";
export const FLOCKER_BOTH_MESSAGE = "datasetName and datasetUUID can not be specified simultaneously";
export const QUOBYTE_TENANT_MESSAGE = "must be a UUID and may not exceed a length of 64 characters";
export const AZURE_CACHING_MODES = ["None", "ReadOnly", "ReadWrite"] as const;
export const AZURE_DISK_KINDS = ["Dedicated", "Managed", "Shared"] as const;
const AZURE_MANAGED_URI = "/subscriptions/{sub-id}/resourcegroups/{group-name}/providers/microsoft.compute/disks/{disk-id}";
const AZURE_BLOB_URI = "https://{account-name}.blob.core.windows.net/{container-name}/{disk-name}.vhd";
export const PULL_POLICIES = ["Always", "IfNotPresent", "Never"] as const;
export const ACCESS_MODES_REQUIRED_MESSAGE = "at least 1 access mode is required";
/** Enumerated strings of the rarer sources are bounded so that their messages can quote the value cheaply. */
export const MAX_ENUM_LENGTH = 64;
const hasPrefixIQN = (v: string) => v.startsWith("iqn") || v.startsWith("eui") || v.startsWith("naa");
const celHasPrefixIQN = (x: string) => `(${x}.startsWith('iqn') || ${x}.startsWith('eui') || ${x}.startsWith('naa'))`;
const inRange = (v: number | undefined, lo: number, hi: number) => v === undefined || (v >= lo && v <= hi);
const nonEmpty = (l: readonly unknown[] | undefined) => (l?.length ?? 0) > 0;

/** Kubernetes' checks of the rarer volume sources that CEL affords (presence, ranges, prefixes, enums). */
const rareVolumeSourceRules: AdmissionRule<Volume>[] = [
  ...REQUIRED_SOURCE_LISTS.map(([source, field]) => ({
    rule: `!has(self.${source}) || size(self.${source}.${field}) > 0`,
    message: `${field} must be non-empty`,
    fieldPath: `.${source}.${field}`,
    reason: "FieldValueRequired" as const,
    check: (v: Volume) => v[source] === undefined || nonEmpty(v[source].monitors),
  })),
  ...SECRET_REF_SOURCES.map((source) => ({
    rule: `!has(self.${source}) || !has(self.${source}.secretRef) || ${celIsSet(`self.${source}.secretRef.name`)}`,
    message: "name must be non-empty",
    fieldPath: `.${source}.secretRef.name`,
    reason: "FieldValueRequired" as const,
    check: (v: Volume) => v[source]?.secretRef === undefined || isSet(v[source].secretRef.name),
  })),
  ...(["gcePersistentDisk", "awsElasticBlockStore"] as const).map((source) => ({
    rule: `!has(self.${source}) || !has(self.${source}.partition) || (self.${source}.partition >= 0 && self.${source}.partition <= 255)`,
    message: PARTITION_MESSAGE,
    fieldPath: `.${source}.partition`,
    check: (v: Volume) => inRange(v[source]?.partition, 0, 255),
  })),
  ...localDescendingPathRules<Volume>("gitRepo.directory", (v) => v.gitRepo?.directory).map((r) => ({ ...r, rule: `!has(self.gitRepo) || (${r.rule})` })),
  // iscsi (validateISCSIVolumeSource); the full IQN/EUI/NAA formats are the controllers' (devicePluginPodProblems).
  {
    rule: `!has(self.iscsi) || size(self.iscsi.iqn) == 0 || ${celHasPrefixIQN("self.iscsi.iqn")}`,
    message: IQN_PREFIX_MESSAGE,
    fieldPath: ".iscsi.iqn",
    check: (v) => v.iscsi === undefined || v.iscsi.iqn === "" || hasPrefixIQN(v.iscsi.iqn),
  },
  {
    rule: `!has(self.iscsi) || !has(self.iscsi.initiatorName) || ${celHasPrefixIQN("self.iscsi.initiatorName")}`,
    message: IQN_PREFIX_MESSAGE,
    fieldPath: ".iscsi.initiatorName",
    check: (v) => v.iscsi?.initiatorName === undefined || hasPrefixIQN(v.iscsi.initiatorName),
  },
  { rule: "!has(self.iscsi) || (self.iscsi.lun >= 0 && self.iscsi.lun <= 255)", message: LUN_MESSAGE, fieldPath: ".iscsi.lun", check: (v) => inRange(v.iscsi?.lun, 0, 255) },
  {
    rule: "!has(self.iscsi) || !((has(self.iscsi.chapAuthDiscovery) && self.iscsi.chapAuthDiscovery) || (has(self.iscsi.chapAuthSession) && self.iscsi.chapAuthSession)) || has(self.iscsi.secretRef)",
    message: "secretRef is required when CHAP authentication is on",
    fieldPath: ".iscsi.secretRef",
    reason: "FieldValueRequired",
    check: (v) => v.iscsi === undefined || !(v.iscsi.chapAuthDiscovery === true || v.iscsi.chapAuthSession === true) || v.iscsi.secretRef !== undefined,
  },
  {
    rule: "!has(self.iscsi) || !has(self.iscsi.initiatorName) || size(self.name) + 1 + size(self.iscsi.targetPortal) <= 64",
    message: ISCSI_NAME_LENGTH_MESSAGE,
    fieldPath: ".name",
    check: (v) => v.iscsi?.initiatorName === undefined || `${v.name}:${v.iscsi.targetPortal}`.length <= 64,
  },
  // fc (validateFCVolumeSource)
  {
    rule: "!has(self.fc) || (has(self.fc.targetWWNs) && size(self.fc.targetWWNs) > 0) || (has(self.fc.wwids) && size(self.fc.wwids) > 0)",
    message: FC_TARGET_MESSAGE,
    fieldPath: ".fc.targetWWNs",
    reason: "FieldValueRequired",
    check: (v) => v.fc === undefined || nonEmpty(v.fc.targetWWNs) || nonEmpty(v.fc.wwids),
  },
  {
    rule: "!has(self.fc) || !(has(self.fc.targetWWNs) && size(self.fc.targetWWNs) > 0 && has(self.fc.wwids) && size(self.fc.wwids) > 0)",
    message: FC_BOTH_MESSAGE,
    fieldPath: ".fc.targetWWNs",
    check: (v) => v.fc === undefined || !(nonEmpty(v.fc.targetWWNs) && nonEmpty(v.fc.wwids)),
  },
  {
    rule: "!has(self.fc) || !has(self.fc.targetWWNs) || size(self.fc.targetWWNs) == 0 || has(self.fc.lun)",
    message: FC_LUN_MESSAGE,
    fieldPath: ".fc.lun",
    reason: "FieldValueRequired",
    check: (v) => v.fc === undefined || !nonEmpty(v.fc.targetWWNs) || v.fc.lun !== undefined,
  },
  { rule: "!has(self.fc) || !has(self.fc.lun) || (self.fc.lun >= 0 && self.fc.lun <= 255)", message: LUN_MESSAGE, fieldPath: ".fc.lun", check: (v) => inRange(v.fc?.lun, 0, 255) },
  // flocker (validateFlockerVolumeSource); '/' in datasetName is the controllers'.
  {
    rule: `!has(self.flocker) || ${celIsSet("self.flocker.datasetName")} || ${celIsSet("self.flocker.datasetUUID")}`,
    message: FLOCKER_ONE_MESSAGE,
    fieldPath: ".flocker",
    reason: "FieldValueRequired",
    check: (v) => v.flocker === undefined || isSet(v.flocker.datasetName) || isSet(v.flocker.datasetUUID),
  },
  {
    rule: `!has(self.flocker) || !(${celIsSet("self.flocker.datasetName")} && ${celIsSet("self.flocker.datasetUUID")})`,
    message: FLOCKER_BOTH_MESSAGE,
    fieldPath: ".flocker",
    check: (v) => v.flocker === undefined || !(isSet(v.flocker.datasetName) && isSet(v.flocker.datasetUUID)),
  },
  // quobyte (validateQuobyteVolumeSource); the host:port syntax of the registry is the controllers'.
  {
    rule: "!has(self.quobyte) || size(self.quobyte.registry) == 0 || !has(self.quobyte.tenant) || size(self.quobyte.tenant) < 65",
    message: QUOBYTE_TENANT_MESSAGE,
    fieldPath: ".quobyte.tenant",
    reason: "FieldValueRequired",
    check: (v) => v.quobyte === undefined || v.quobyte.registry === "" || (v.quobyte.tenant ?? "").length < 65,
  },
  // azureDisk (validateAzureDisk)
  {
    rule: `!has(self.azureDisk) || !has(self.azureDisk.cachingMode) || self.azureDisk.cachingMode in ${celList(AZURE_CACHING_MODES)}`,
    message: unsupportedValue("…", AZURE_CACHING_MODES),
    messageExpression: celUnsupportedValue("self.azureDisk.cachingMode", AZURE_CACHING_MODES),
    messageFor: (v) => unsupportedValue(v.azureDisk?.cachingMode ?? "", AZURE_CACHING_MODES),
    fieldPath: ".azureDisk.cachingMode",
    check: (v) => v.azureDisk?.cachingMode === undefined || (AZURE_CACHING_MODES as readonly string[]).includes(v.azureDisk.cachingMode),
  },
  {
    rule: `!has(self.azureDisk) || !has(self.azureDisk.kind) || self.azureDisk.kind in ${celList(AZURE_DISK_KINDS)}`,
    message: unsupportedValue("…", AZURE_DISK_KINDS),
    messageExpression: celUnsupportedValue("self.azureDisk.kind", AZURE_DISK_KINDS),
    messageFor: (v) => unsupportedValue(v.azureDisk?.kind ?? "", AZURE_DISK_KINDS),
    fieldPath: ".azureDisk.kind",
    check: (v) => v.azureDisk?.kind === undefined || (AZURE_DISK_KINDS as readonly string[]).includes(v.azureDisk.kind),
  },
  {
    rule: "!has(self.azureDisk) || !has(self.azureDisk.kind) || self.azureDisk.kind != 'Managed' || self.azureDisk.diskURI.startsWith('/subscriptions/')",
    message: `Unsupported value: ${supportedValues([AZURE_MANAGED_URI])}`,
    fieldPath: ".azureDisk.diskURI",
    check: (v) => v.azureDisk?.kind !== "Managed" || v.azureDisk.diskURI.startsWith("/subscriptions/"),
  },
  {
    rule: "!has(self.azureDisk) || !has(self.azureDisk.kind) || self.azureDisk.kind == 'Managed' || self.azureDisk.diskURI.startsWith('https://')",
    message: `Unsupported value: ${supportedValues([AZURE_BLOB_URI])}`,
    fieldPath: ".azureDisk.diskURI",
    check: (v) => v.azureDisk?.kind === undefined || v.azureDisk.kind === "Managed" || v.azureDisk.diskURI.startsWith("https://"),
  },
  // image (validateImageVolumeSource: the reference is required of Pods only, not of templates; "" is defaulted)
  {
    rule: `!has(self.image) || !has(self.image.pullPolicy) || self.image.pullPolicy in ${celList(["", ...PULL_POLICIES])}`,
    message: unsupportedValue("…", PULL_POLICIES),
    messageExpression: celUnsupportedValue("self.image.pullPolicy", PULL_POLICIES),
    messageFor: (v) => unsupportedValue(v.image?.pullPolicy ?? "", PULL_POLICIES),
    fieldPath: ".image.pullPolicy",
    check: (v) => v.image?.pullPolicy === undefined || ["", ...PULL_POLICIES].includes(v.image.pullPolicy),
  },
  // ephemeral (ValidatePersistentVolumeClaimSpec): the rest of the claim template is the controllers'.
  {
    rule: "!has(self.ephemeral) || !has(self.ephemeral.volumeClaimTemplate) || (has(self.ephemeral.volumeClaimTemplate.spec.accessModes) && size(self.ephemeral.volumeClaimTemplate.spec.accessModes) > 0)",
    message: ACCESS_MODES_REQUIRED_MESSAGE,
    fieldPath: ".ephemeral.volumeClaimTemplate.spec.accessModes",
    reason: "FieldValueRequired",
    check: (v) => v.ephemeral?.volumeClaimTemplate === undefined || nonEmpty(v.ephemeral.volumeClaimTemplate.spec.accessModes),
  },
  {
    rule: "!has(self.ephemeral) || !has(self.ephemeral.volumeClaimTemplate) || (has(self.ephemeral.volumeClaimTemplate.spec.resources) && has(self.ephemeral.volumeClaimTemplate.spec.resources.requests) && 'storage' in self.ephemeral.volumeClaimTemplate.spec.resources.requests)",
    message: "a storage request is required",
    fieldPath: ".ephemeral.volumeClaimTemplate.spec.resources",
    reason: "FieldValueRequired",
    check: (v) => v.ephemeral?.volumeClaimTemplate === undefined || v.ephemeral.volumeClaimTemplate.spec.resources?.requests?.storage !== undefined,
  },
];

const volumeSourceRules: AdmissionRule<Volume>[] = [
  {
    rule: "!has(self.emptyDir) || !has(self.emptyDir.sizeLimit) || isQuantity(string(self.emptyDir.sizeLimit))",
    message: QUANTITY_MESSAGE,
    fieldPath: ".emptyDir.sizeLimit",
    check: (v) => v.emptyDir?.sizeLimit === undefined || isQuantity(v.emptyDir.sizeLimit),
  },
  {
    rule: "!has(self.emptyDir) || !has(self.emptyDir.sizeLimit) || !isQuantity(string(self.emptyDir.sizeLimit)) || !quantity(string(self.emptyDir.sizeLimit)).isLessThan(quantity('0'))",
    message: SIZE_LIMIT_MESSAGE,
    fieldPath: ".emptyDir.sizeLimit",
    reason: "FieldValueForbidden",
    check: (v) => v.emptyDir?.sizeLimit === undefined || !isNegativeQuantity(v.emptyDir.sizeLimit),
  },
  ...REQUIRED_SOURCE_FIELDS.map(([source, field]) => ({
    rule: `!has(self.${source}) || (has(self.${source}.${field}) && size(self.${source}.${field}) > 0)`,
    message: `${field} must be non-empty`,
    fieldPath: `.${source}.${field}`,
    reason: "FieldValueRequired" as const,
    check: (v: Volume) => {
      const s = v[source] as Record<string, unknown> | undefined;
      return s === undefined || (s[field] !== "" && s[field] !== undefined);
    },
  })),
  {
    rule: `!has(self.csi) || size(self.csi.driver) == 0 || ${matches("self.csi.driver.lowerAscii()", RE2.dns1123Subdomain)}`,
    message: DNS1123_SUBDOMAIN_REGEX_MESSAGE,
    fieldPath: ".csi.driver",
    check: (v) => v.csi === undefined || v.csi.driver === "" || re(RE2.dns1123Subdomain).test(v.csi.driver.toLowerCase()),
  },
  {
    rule: `!has(self.csi) || !has(self.csi.nodePublishSecretRef) || !has(self.csi.nodePublishSecretRef.name) || size(self.csi.nodePublishSecretRef.name) == 0 || ${matches("self.csi.nodePublishSecretRef.name", RE2.dns1123Subdomain)}`,
    message: DNS1123_SUBDOMAIN_REGEX_MESSAGE,
    fieldPath: ".csi.nodePublishSecretRef.name",
    check: (v) => (v.csi?.nodePublishSecretRef?.name ?? "") === "" || re(RE2.dns1123Subdomain).test(v.csi?.nodePublishSecretRef?.name ?? ""),
  },
  {
    rule: "!has(self.csi) || !has(self.csi.nodePublishSecretRef) || (has(self.csi.nodePublishSecretRef.name) && size(self.csi.nodePublishSecretRef.name) > 0)",
    message: "name must be non-empty",
    fieldPath: ".csi.nodePublishSecretRef.name",
    reason: "FieldValueRequired",
    check: (v) => v.csi?.nodePublishSecretRef === undefined || (v.csi.nodePublishSecretRef.name ?? "") !== "",
  },
  {
    rule: "!has(self.nfs) || size(self.nfs.path) == 0 || self.nfs.path.startsWith('/')",
    message: ABSOLUTE_PATH_MESSAGE,
    fieldPath: ".nfs.path",
    check: (v) => v.nfs === undefined || v.nfs.path === "" || v.nfs.path.startsWith("/"),
  },
  {
    rule: "!has(self.ephemeral) || has(self.ephemeral.volumeClaimTemplate)",
    message: "volumeClaimTemplate must be set",
    fieldPath: ".ephemeral.volumeClaimTemplate",
    reason: "FieldValueRequired",
    check: (v) => v.ephemeral === undefined || v.ephemeral.volumeClaimTemplate !== undefined,
  },
  { rule: `!has(self.downwardAPI) || ${fileMode("downwardAPI.defaultMode")}`, message: FILE_MODE_MESSAGE, fieldPath: ".downwardAPI.defaultMode", check: (v) => modeOk(v.downwardAPI?.defaultMode) },
];

export const validatedVolumeSchema = withRules(
  volumeSchema.extend({
    name: volumeShape.name.max(FORMAT_MAX_LENGTH.dns1123Label),
    hostPath: boundedStrings(hostPathShape, MAX_PATH_LENGTH).optional(),
    configMap: configMapShape.extend({ items: keyToPathList.optional(), name: configMapShape.shape.name.unwrap().max(MAX_NAME_LENGTH).optional() }).optional(),
    secret: secretShape.extend({ items: keyToPathList.optional(), secretName: secretShape.shape.secretName.unwrap().max(MAX_NAME_LENGTH).optional() }).optional(),
    emptyDir: volumeShape.emptyDir.unwrap().extend({ sizeLimit: boundedIntOrString(MAX_QUANTITY_LENGTH).optional() }).optional(),
    // Kubernetes' own bound (63) and words ("Too long: may not be more than 63 bytes").
    csi: volumeShape.csi
      .unwrap()
      .extend({
        driver: volumeShape.csi.unwrap().shape.driver.max(63, "Too long: may not be more than 63 bytes"),
        nodePublishSecretRef: boundedStrings(volumeShape.csi.unwrap().shape.nodePublishSecretRef.unwrap(), FORMAT_MAX_LENGTH.dns1123Subdomain).optional(),
      })
      .optional(),
    nfs: boundedStrings(volumeShape.nfs.unwrap(), MAX_PATH_LENGTH).optional(),
    downwardAPI: volumeShape.downwardAPI
      .unwrap()
      .extend({ items: z.array(downwardFileSchema(MAX_ITEM_PATH_LENGTH)).max(MAX_DOWNWARD_API_ITEMS).optional() })
      .optional(),
    projected: validatedProjectedSchema.optional(),
    azureDisk: volumeShape.azureDisk
      .unwrap()
      .extend({
        cachingMode: volumeShape.azureDisk.unwrap().shape.cachingMode.unwrap().max(MAX_ENUM_LENGTH).optional(),
        kind: volumeShape.azureDisk.unwrap().shape.kind.unwrap().max(MAX_ENUM_LENGTH).optional(),
      })
      .optional(),
    gitRepo: volumeShape.gitRepo.unwrap().extend({ directory: volumeShape.gitRepo.unwrap().shape.directory.unwrap().max(MAX_PATH_LENGTH).optional() }).optional(),
    image: volumeShape.image.unwrap().extend({ pullPolicy: volumeShape.image.unwrap().shape.pullPolicy.unwrap().max(MAX_ENUM_LENGTH).optional() }).optional(),
  }),
  [...volumeRules, ...volumeSourceRules, ...rareVolumeSourceRules],
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
    rule: `!has(self.httpGet) || !has(self.httpGet.httpHeaders) || self.httpGet.httpHeaders.all(h, h.name.matches('${RE2.httpHeaderName}'))`,
    message: HTTP_HEADER_NAME_REGEX_MESSAGE,
    fieldPath: ".httpGet.httpHeaders",
    check: (p) => (p.httpGet?.httpHeaders ?? []).every((h) => isHTTPHeaderName(h.name).length === 0),
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
        httpHeaders: z.array(boundedStrings(httpHeaderSchema, MAX_NAME_LENGTH)).max(MAX_HTTP_HEADERS).optional(),
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

export const STANDARD_RESOURCE_MESSAGE = "must be a standard resource for containers";
export const EXTENDED_RESOURCE_MESSAGE = "doesn't follow extended resource name standard";
export const STANDARD_CONTAINER_RESOURCES = ["cpu", "memory", "ephemeral-storage"] as const;
export const RESOURCE_CLAIMS_MESSAGE =
  "a Module's pods have no resourceClaims, so a container cannot reference one: remove claims";

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

/** IsExtendedResourceName: outside kubernetes.io, not requests.…, and a qualified name once prefixed with requests. */
const isExtendedResource = (k: string) => !overcommitAllowed(k) && !k.startsWith("hugepages-") && !k.startsWith("requests.") && isQualifiedName(`requests.${k}`).length === 0;
const CEL_EXTENDED = (k: string) => `(${k}.contains('/') && !${k}.contains('kubernetes.io/') && !${k}.startsWith('requests.') && ${CEL_QUALIFIED(`('requests.' + ${k})`)})`;
export const INTEGER_MESSAGE = "must be an integer";
export const HUGEPAGES_CPU_MEMORY_MESSAGE = "HugePages require cpu or memory";
export const NON_OVERCOMMIT_LIMIT_MESSAGE = "Limit must be set for non overcommitable resources";

/** The page size of a hugepages-<size> resource, in bytes; NaN when the size is not a positive whole quantity. */
function hugePageSize(name: string): number {
  const size = quantityValue(name.slice("hugepages-".length));
  return size > 0 && Number.isInteger(size) ? size : Number.NaN;
}
const CEL_PAGE = (k: string) => `${k}.substring(10)`;
const CEL_HUGEPAGE_DIVISIBLE = (k: string, v: string) =>
  `(isQuantity(${CEL_PAGE(k)}) && quantity(${CEL_PAGE(k)}).isInteger() && quantity(${CEL_PAGE(k)}).isGreaterThan(quantity('0')) && quantity(${v}).isInteger() && quantity(${v}).asInteger() % quantity(${CEL_PAGE(k)}).asInteger() == 0)`;

/** Extended resources are whole numbers; huge pages are whole multiples of their page size (ValidateResourceQuantityValue, validateResourceQuantityHugePageValue). */
function resourceValueRules(field: "limits" | "requests"): AdmissionRule<Resources>[] {
  const v = (k: string) => `string(self.${field}[${k}])`;
  const list = (r: Resources): [string, number | string][] => Object.entries(r[field] ?? {});
  const badHugePage = `self.${field}.filter(k, k.startsWith('hugepages-') && isQuantity(${v("k")}) && !${CEL_HUGEPAGE_DIVISIBLE("k", v("k"))})[0]`;
  return [
    {
      rule: `!has(self.${field}) || self.${field}.all(k, !${CEL_EXTENDED("k")} || !isQuantity(${v("k")}) || quantity(${v("k")}).isInteger())`,
      message: INTEGER_MESSAGE,
      fieldPath: `.${field}`,
      check: (r) => list(r).every(([k, q]) => !isExtendedResource(k) || !isQuantity(q) || Number.isInteger(quantityValue(q))),
    },
    {
      rule: `!has(self.${field}) || self.${field}.all(k, !k.startsWith('hugepages-') || !isQuantity(${v("k")}) || ${CEL_HUGEPAGE_DIVISIBLE("k", v("k"))})`,
      message: "huge pages must be a positive integer multiple of their page size",
      messageExpression: `${v(badHugePage)} + ' is not positive integer multiple of ' + ${badHugePage}`,
      messageFor: (r) =>
        list(r)
          .filter(([k, q]) => k.startsWith("hugepages-") && isQuantity(q) && !(quantityValue(q) % hugePageSize(k) === 0))
          .map(([k, q]) => `${String(q)} is not positive integer multiple of ${k}`)
          .join(", "),
      fieldPath: `.${field}`,
      check: (r) => list(r).every(([k, q]) => !k.startsWith("hugepages-") || !isQuantity(q) || quantityValue(q) % hugePageSize(k) === 0),
    },
  ];
}

/** CEL over `k`: the request of k differs from its limit ("eq": any difference) or exceeds it ("gt"). */
const requestAboveLimit = (mode: "eq" | "gt") =>
  `(k in self.limits && isQuantity(string(self.requests[k])) && isQuantity(string(self.limits[k])) && quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) ${mode === "eq" ? "!= 0" : "> 0"})`;
const firstRequest = (which: "eq" | "gt") =>
  `self.requests.filter(k, ${which === "eq" ? `!${CEL_OVERCOMMIT("k")} && ${requestAboveLimit("eq")}` : `${CEL_OVERCOMMIT("k")} && ${requestAboveLimit("gt")}`})[0]`;
const CEL_HAS_HUGEPAGES = (field: string) => `(has(self.${field}) && self.${field}.exists(k, k.startsWith('hugepages-')))`;
const CEL_HAS_CPU_MEMORY = (field: string) => `(has(self.${field}) && ('cpu' in self.${field} || 'memory' in self.${field}))`;
const hasKey = (l: ResourceList | undefined, test: (k: string) => boolean) => Object.keys(l ?? {}).some(test);

const resourceRules: AdmissionRule<Resources>[] = [
  ...resourceListRules("limits"),
  ...resourceListRules("requests"),
  ...resourceValueRules("limits"),
  ...resourceValueRules("requests"),
  {
    rule: `!has(self.requests) || !has(self.limits) || self.requests.all(k, !${CEL_OVERCOMMIT("k")} || !${requestAboveLimit("gt")})`,
    message: "requests must be less than or equal to their limits",
    messageExpression: `'must be less than or equal to ' + ${firstRequest("gt")} + ' limit of ' + string(self.limits[${firstRequest("gt")}])`,
    fieldPath: ".requests",
    messageFor: (r) =>
      Object.entries(r.requests ?? {})
        .filter(([k, v]) => overcommitAllowed(k) && r.limits?.[k] !== undefined && quantityValue(v) > quantityValue(r.limits[k] ?? 0))
        .map(([k]) => `must be less than or equal to ${k} limit of ${String(r.limits?.[k])}`)
        .join(", "),
    check: (r) => Object.entries(r.requests ?? {}).every(([k, v]) => !overcommitAllowed(k) || r.limits?.[k] === undefined || quantityValue(v) <= quantityValue(r.limits[k] ?? 0)),
  },
  {
    // Extended resources and huge pages: the request must equal the limit.
    rule: `!has(self.requests) || !has(self.limits) || self.requests.all(k, ${CEL_OVERCOMMIT("k")} || !${requestAboveLimit("eq")})`,
    message: "requests of extended resources and huge pages must equal their limits",
    messageExpression: `'must be equal to ' + ${firstRequest("eq")} + ' limit of ' + string(self.limits[${firstRequest("eq")}])`,
    fieldPath: ".requests",
    messageFor: (r) =>
      Object.entries(r.requests ?? {})
        .filter(([k, v]) => !overcommitAllowed(k) && r.limits?.[k] !== undefined && quantityValue(v) !== quantityValue(r.limits[k] ?? 0))
        .map(([k]) => `must be equal to ${k} limit of ${String(r.limits?.[k])}`)
        .join(", "),
    check: (r) => Object.entries(r.requests ?? {}).every(([k, v]) => overcommitAllowed(k) || r.limits?.[k] === undefined || quantityValue(v) === quantityValue(r.limits[k] ?? 0)),
  },
  {
    rule: `!has(self.requests) || self.requests.all(k, ${CEL_OVERCOMMIT("k")} || (has(self.limits) && k in self.limits))`,
    message: NON_OVERCOMMIT_LIMIT_MESSAGE,
    fieldPath: ".limits",
    reason: "FieldValueRequired",
    check: (r) => Object.keys(r.requests ?? {}).every((k) => overcommitAllowed(k) || (r.limits !== undefined && k in r.limits)),
  },
  {
    rule: `!(${CEL_HAS_HUGEPAGES("limits")} || ${CEL_HAS_HUGEPAGES("requests")}) || ${CEL_HAS_CPU_MEMORY("limits")} || ${CEL_HAS_CPU_MEMORY("requests")}`,
    message: HUGEPAGES_CPU_MEMORY_MESSAGE,
    reason: "FieldValueForbidden",
    check: (r) => {
      const huge = (k: string) => k.startsWith("hugepages-");
      const cpuMemory = (k: string) => k === "cpu" || k === "memory";
      return !(hasKey(r.limits, huge) || hasKey(r.requests, huge)) || hasKey(r.limits, cpuMemory) || hasKey(r.requests, cpuMemory);
    },
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

// ---------------------------------------------------------------- rules the controllers enforce

/** A problem with a pod field: the field relative to the device plugin spec (`.volumes[0].projected`), and Kubernetes' message. */
export interface PodFieldProblem {
  field: string;
  message: string;
}

interface DevicePluginPodFields {
  container: { env?: EnvVar[] | undefined };
  initContainer?: { env?: EnvVar[] | undefined } | undefined;
  volumes?: Volume[] | undefined;
}

/**
 * Kubernetes' rules for the device plugin pod that the CRDs leave out because CEL cannot afford
 * them within the API server's cost budget at the CRDs' bounds (2048 env entries, 64 volumes…):
 * duplicate paths in a projected volume, and the keys of label/annotation subscripts in env
 * fieldRefs and downward API files. The controllers report them (upstreamRuleProblems) before they
 * write anything; the API server would refuse the DaemonSet with the same messages.
 */
export function devicePluginPodProblems(dp: DevicePluginPodFields): PodFieldProblem[] {
  const problems: PodFieldProblem[] = [];
  const subscript = (field: string, fieldPath: string | undefined) => {
    for (const message of fieldRefSubscriptProblems(fieldPath ?? "")) problems.push({ field, message });
  };
  for (const which of ["container", "initContainer"] as const) {
    (dp[which]?.env ?? []).forEach((e, i) => subscript(`.${which}.env[${i}].valueFrom.fieldRef`, e.valueFrom?.fieldRef?.fieldPath));
  }
  (dp.volumes ?? []).forEach((v, i) => {
    (v.downwardAPI?.items ?? []).forEach((f, j) => subscript(`.volumes[${i}].downwardAPI.items[${j}].fieldRef`, f.fieldRef?.fieldPath));
    (v.projected?.sources ?? []).forEach((s, j) =>
      (s.downwardAPI?.items ?? []).forEach((f, k) => subscript(`.volumes[${i}].projected.sources[${j}].downwardAPI.items[${k}].fieldRef`, f.fieldRef?.fieldPath)),
    );
    const dups = duplicateProjectedPaths(v.projected?.sources);
    if (dups.length > 0) problems.push({ field: `.volumes[${i}].projected`, message: `${DUPLICATE_PATHS_MESSAGE}: ${dups.map((d) => JSON.stringify(d)).join(", ")}` });
    for (const p of rareVolumeSourceProblems(v)) problems.push({ field: `.volumes[${i}]${p.field}`, message: p.message });
  });
  return problems;
}

// The formats of validateISCSIVolumeSource (Go's regexps; [[:alnum:]] is ASCII).
const ISCSI_IQN = /iqn\.\d{4}-\d{2}\.([A-Za-z0-9\-.]+)(:[^,;*&$|\t\n\f\r ]+)$/;
const ISCSI_EUI = /^eui.[A-Za-z0-9]{16}$/;
const ISCSI_NAA = /^naa.[A-Za-z0-9]{32}$/;
export const ISCSI_FORMAT_MESSAGE = "must be valid format";
export const QUOBYTE_REGISTRY_MESSAGE = "must be a host:port pair or multiple pairs separated by commas";
export const FLEX_RESERVED_MESSAGE = "kubernetes.io and k8s.io namespaces are reserved";
export const ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"] as const;
export const RWOP_MIX_MESSAGE = "may not use ReadWriteOncePod with other access modes";

function iscsiFormatOk(v: string): boolean {
  if (v.startsWith("iqn")) return ISCSI_IQN.test(v);
  if (v.startsWith("eui")) return ISCSI_EUI.test(v);
  if (v.startsWith("naa")) return ISCSI_NAA.test(v);
  return true; // the prefix rule (in the CRD) reports it
}

/** Go's net.SplitHostPort succeeds: `host:port`, `[v6]:port`; brackets only around the host. */
export function isHostPort(hp: string): boolean {
  const i = hp.lastIndexOf(":");
  if (i < 0) return false;
  let j = 0;
  let k = 0;
  if (hp.startsWith("[")) {
    const end = hp.indexOf("]");
    if (end < 0 || end + 1 !== i) return false;
    j = 1;
    k = end + 1;
  } else if (hp.slice(0, i).includes(":")) {
    return false;
  }
  return !hp.slice(j).includes("[") && !hp.slice(k).includes("]");
}

/**
 * Kubernetes' checks of the rarer volume sources that need regular expressions, splitting or map
 * iteration (iSCSI name formats, Quobyte registries, FlexVolume option keys, Flocker dataset names,
 * StorageOS names, an ephemeral volume's claim template), which the CRD leaves to the controllers.
 * Fields are relative to the volume (`.iscsi.iqn`).
 */
export function rareVolumeSourceProblems(v: Volume): PodFieldProblem[] {
  const problems: PodFieldProblem[] = [];
  const add = (field: string, messages: readonly string[]) => messages.forEach((message) => problems.push({ field, message }));
  if (v.iscsi !== undefined) {
    if (v.iscsi.iqn !== "" && !iscsiFormatOk(v.iscsi.iqn)) add(".iscsi.iqn", [ISCSI_FORMAT_MESSAGE]);
    if (v.iscsi.initiatorName !== undefined && !iscsiFormatOk(v.iscsi.initiatorName)) add(".iscsi.initiatorName", [ISCSI_FORMAT_MESSAGE]);
  }
  if (v.quobyte !== undefined && v.quobyte.registry !== "" && (v.quobyte.tenant ?? "").length < 65 && !v.quobyte.registry.split(",").every(isHostPort)) {
    add(".quobyte.registry", [QUOBYTE_REGISTRY_MESSAGE]);
  }
  for (const key of Object.keys(v.flexVolume?.options ?? {})) {
    const parts = key.split("/");
    const namespace = `.${(parts.length >= 2 ? (parts[0] ?? "") : key).toLowerCase()}`;
    if (namespace.endsWith(".kubernetes.io") || namespace.endsWith(".k8s.io")) add(`.flexVolume.options[${key}]`, [FLEX_RESERVED_MESSAGE]);
  }
  if (v.flocker?.datasetName?.includes("/") === true) add(".flocker.datasetName", ["must not contain '/'"]);
  if (isSet(v.storageos?.volumeName)) add(".storageos.volumeName", isDNS1123Label(v.storageos.volumeName));
  if (isSet(v.storageos?.volumeNamespace)) add(".storageos.volumeNamespace", isDNS1123Label(v.storageos.volumeNamespace));
  const claim = v.ephemeral?.volumeClaimTemplate;
  if (claim !== undefined) {
    const at = ".ephemeral.volumeClaimTemplate";
    const modes = claim.spec.accessModes ?? [];
    for (const m of modes) if (!(ACCESS_MODES as readonly string[]).includes(m)) add(`${at}.spec.accessModes`, [unsupportedValue(m, ACCESS_MODES)]);
    if (modes.includes("ReadWriteOncePod") && modes.some((m) => m !== "ReadWriteOncePod" && (ACCESS_MODES as readonly string[]).includes(m))) add(`${at}.spec.accessModes`, [RWOP_MIX_MESSAGE]);
    const storage = claim.spec.resources?.requests?.storage;
    if (storage !== undefined && !(isQuantity(storage) && quantityValue(storage) > 0)) add(`${at}.spec.resources[storage]`, ["must be greater than zero"]);
    if (isSet(claim.spec.storageClassName)) add(`${at}.spec.storageClassName`, isDNS1123Subdomain(claim.spec.storageClassName));
    for (const [k, value] of Object.entries(claim.metadata?.labels ?? {})) {
      add(`${at}.metadata.labels`, [...isQualifiedName(k), ...isValidLabelValue(value)]);
    }
    for (const k of Object.keys(claim.metadata?.annotations ?? {})) add(`${at}.metadata.annotations`, isQualifiedName(k.toLowerCase()));
  }
  return problems;
}
