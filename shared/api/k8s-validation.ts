// Kubernetes' own string checks (k8s.io/apimachinery/pkg/util/validation, v0.34), returning the
// same messages the API server gives, so that zod refuses what the CRD's CEL rules refuse (they
// call the API server's `format` library, which runs the Go originals) with the same words.
// Each function returns the list of problems: empty when the value is valid.

const QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_MSG =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT = `(${QUALIFIED_NAME_FMT})?`;
const LABEL_VALUE_MSG =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT = `${DNS1123_LABEL_FMT}(\\.${DNS1123_LABEL_FMT})*`;
const DNS1123_SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const CONFIG_MAP_KEY_FMT = "[-._a-zA-Z0-9]+";
const CONFIG_MAP_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";
const HTTP_HEADER_NAME_FMT = "[-A-Za-z0-9]+";
const HTTP_HEADER_NAME_MSG = "a valid HTTP header must consist of alphanumeric characters or '-'";
const RELAXED_ENV_VAR_NAME_MSG =
  "a valid environment variable name must consist only of printable ASCII characters other than '='";

/** Kubernetes' messages for the regex part of each check, as exported constants for rules and tests. */
export const LABEL_VALUE_REGEX_MESSAGE = regexErrorText(LABEL_VALUE_MSG, LABEL_VALUE_FMT, "MyValue", "my_value", "12345");
export const DNS1123_LABEL_REGEX_MESSAGE = regexErrorText(DNS1123_LABEL_MSG, DNS1123_LABEL_FMT, "my-name", "123-abc");
export const DNS1123_SUBDOMAIN_REGEX_MESSAGE = regexErrorText(DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, "example.com");
export const QUALIFIED_NAME_REGEX_MESSAGE = `name part ${regexErrorText(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")}`;
export const QUALIFIED_NAME_SLASHES_MESSAGE = `a qualified name ${regexErrorText(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`;
export const QUALIFIED_NAME_PREFIX_MESSAGE = `prefix part ${DNS1123_SUBDOMAIN_REGEX_MESSAGE}`;
export const QUALIFIED_NAME_LENGTH_MESSAGE = "name part must be no more than 63 characters";
export const NO_DOTS_MESSAGE = "must not contain dots";
/** IsConfigMapKey's regex part: keys of Secrets and ConfigMaps that env and volumes select. */
export const CONFIG_MAP_KEY_REGEX_MESSAGE = regexErrorText(CONFIG_MAP_KEY_MSG, CONFIG_MAP_KEY_FMT, "key.name", "KEY_NAME", "key-name");
/** IsHTTPHeaderName: header names of httpGet probes. */
export const HTTP_HEADER_NAME_REGEX_MESSAGE = regexErrorText(HTTP_HEADER_NAME_MSG, HTTP_HEADER_NAME_FMT, "X-Header-Name");
/** The patterns as RE2 source, for CEL's matches(). */
export const RE2 = {
  labelValue: `^${LABEL_VALUE_FMT}$`,
  dns1123Label: `^${DNS1123_LABEL_FMT}$`,
  dns1123Subdomain: `^${DNS1123_SUBDOMAIN_FMT}$`,
  qualifiedNamePart: `(^|/)${QUALIFIED_NAME_FMT}$`,
  qualifiedNamePrefix: `^${DNS1123_SUBDOMAIN_FMT}/`,
  configMapKey: `^${CONFIG_MAP_KEY_FMT}$`,
  httpHeaderName: `^${HTTP_HEADER_NAME_FMT}$`,
} as const;

function regexErrorText(msg: string, fmt: string, ...examples: string[]): string {
  return regexError(msg, fmt, ...examples);
}

const anchored = (fmt: string) => new RegExp(`^${fmt}$`);
const qualifiedNameRe = anchored(QUALIFIED_NAME_FMT);
const labelValueRe = anchored(LABEL_VALUE_FMT);
const dns1123LabelRe = anchored(DNS1123_LABEL_FMT);
const dns1123SubdomainRe = anchored(DNS1123_SUBDOMAIN_FMT);

/** Go's len(): bytes of the UTF-8 form, which is what Kubernetes' length limits count. */
function byteLength(value: string): number {
  return Buffer.byteLength(value, "utf8");
}

/** Kubernetes' RegexError: the rule, examples, and the pattern used. */
function regexError(msg: string, fmt: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${fmt}')`;
  // Go writes "', " after each example and " or " between them: two spaces before each "or".
  return `${msg} (e.g. ${examples.map((e) => `'${e}', `).join(" or ")}regex used for validation is '${fmt}')`;
}

const maxLenError = (n: number) => `must be no more than ${n} characters`;
const EMPTY_ERROR = "must be non-empty";

/** IsDNS1123Subdomain: names of most objects (Secrets, ConfigMaps, ServiceAccounts). */
export function isDNS1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > 253) errs.push(maxLenError(253));
  if (!dns1123SubdomainRe.test(value)) errs.push(regexError(DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, "example.com"));
  return errs;
}

/** IsDNS1123Label: namespaces, volume names, container names. */
export function isDNS1123Label(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > 63) errs.push(maxLenError(63));
  if (!dns1123LabelRe.test(value)) {
    if (dns1123SubdomainRe.test(value)) errs.push("must not contain dots");
    else errs.push(regexError(DNS1123_LABEL_MSG, DNS1123_LABEL_FMT, "my-name", "123-abc"));
  }
  return errs;
}

/** IsQualifiedName: label keys, toleration keys, annotation keys. */
export function isQualifiedName(value: string): string[] {
  const errs: string[] = [];
  const parts = value.split("/");
  let name: string;
  if (parts.length === 1) {
    name = parts[0] ?? "";
  } else if (parts.length === 2) {
    const prefix = parts[0] ?? "";
    name = parts[1] ?? "";
    if (prefix.length === 0) errs.push(`prefix part ${EMPTY_ERROR}`);
    else errs.push(...isDNS1123Subdomain(prefix).map((m) => `prefix part ${m}`));
  } else {
    return [
      `a qualified name ${regexError(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ];
  }
  if (name.length === 0) errs.push(`name part ${EMPTY_ERROR}`);
  else if (byteLength(name) > 63) errs.push(`name part ${maxLenError(63)}`);
  if (!qualifiedNameRe.test(name)) errs.push(`name part ${regexError(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")}`);
  return errs;
}

/** IsConfigMapKey: a key of a Secret or ConfigMap (≤ 253, [-._a-zA-Z0-9]+, not `.`, `..` or `..…`). */
export function isConfigMapKey(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > 253) errs.push(maxLenError(253));
  if (!anchored(CONFIG_MAP_KEY_FMT).test(value)) errs.push(CONFIG_MAP_KEY_REGEX_MESSAGE);
  if (value === ".") errs.push("must not be '.'");
  else if (value === "..") errs.push("must not be '..'");
  else if (value.startsWith("..")) errs.push("must not start with '..'");
  return errs;
}

/** IsHTTPHeaderName: Go's net/http header field names, as Kubernetes restricts them. */
export function isHTTPHeaderName(value: string): string[] {
  return anchored(HTTP_HEADER_NAME_FMT).test(value) ? [] : [HTTP_HEADER_NAME_REGEX_MESSAGE];
}

/** IsValidLabelValue: label values, node selector values, toleration values. */
export function isValidLabelValue(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > 63) errs.push(maxLenError(63));
  if (!labelValueRe.test(value)) errs.push(regexError(LABEL_VALUE_MSG, LABEL_VALUE_FMT, "MyValue", "my_value", "12345"));
  return errs;
}

/** IsRelaxedEnvVarName: the rule for container env names since Kubernetes 1.34 (RelaxedEnvironmentVariableValidation, GA). */
export function isRelaxedEnvVarName(value: string): string[] {
  const errs: string[] = [];
  if (value.length === 0) errs.push(`environment variable name ${EMPTY_ERROR}`);
  // Printable ASCII is 0x20-0x7E; Go's unicode.IsPrint counts the space as printable.
  if ([...value].some((c) => c < " " || c > "~" || c === "=")) errs.push(RELAXED_ENV_VAR_NAME_MSG);
  return errs;
}

/** field.NotSupported's detail, with Go's quoting (strconv.Quote). */
export function supportedValues(values: readonly string[]): string {
  return `supported values: ${values.map((v) => JSON.stringify(v)).join(", ")}`;
}

/** The whole NotSupported text as Kubernetes prints it after the field path. */
export function unsupportedValue(value: string, values: readonly string[]): string {
  return `Unsupported value: ${JSON.stringify(value)}: ${supportedValues(values)}`;
}

/** CEL twin of unsupportedValue for a string expression (the value is short: its field has a maxLength). */
export function celUnsupportedValue(expr: string, values: readonly string[]): string {
  return `'Unsupported value: "' + ${expr} + '": ${supportedValues(values).replaceAll("'", "\\'")}'`;
}

/** CEL literal list of strings. */
export function celList(values: readonly string[]): string {
  return `[${values.map((v) => `'${v}'`).join(", ")}]`;
}

/**
 * A Kubernetes resource.Quantity in its canonical string syntax (k8s.io/apimachinery/pkg/api/resource):
 * sign, digits with an optional fraction, then a binary suffix (Ki…Ei), a decimal one (n, u, m, k, M…E)
 * or a decimal exponent (e3, E-2).
 */
const QUANTITY_RE = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$/;

export function isQuantity(value: string | number): boolean {
  if (typeof value === "number") return Number.isFinite(value);
  return QUANTITY_RE.test(value);
}
