// YAML read as Kubernetes tools read it. kubectl, client-go (kubeconfig) and the operators' own
// config loaders read YAML through sigs.k8s.io/yaml, which is go-yaml v2: YAML 1.1, where unquoted
// yes/no/on/off/y/n are booleans and 0755, 0x1F, 1_000 numbers. Reading with YAML 1.2 instead would
// give a file a meaning kubectl does not give it.
import { parse, parseAllDocuments, type Document, type DocumentOptions, type ParseOptions, type SchemaOptions, type Tags } from "yaml";

// go-yaml v2 keeps dates and base-60 forms (2024-01-01, 5:30) as strings, so those tags of the yaml
// library's YAML 1.1 schema are left out.
const kubectlTags = (tags: Tags): Tags =>
  tags.filter((t) =>
    typeof t === "string"
      ? t !== "timestamp" && t !== "intTime" && t !== "floatTime"
      : t.tag !== "tag:yaml.org,2002:timestamp" && !("format" in t && t.format === "TIME"));

/** The yaml library's options that read as sigs.k8s.io/yaml (go-yaml v2) does: YAML 1.1 without timestamps or base 60. */
export const KUBECTL_YAML: ParseOptions & DocumentOptions & SchemaOptions = { version: "1.1", customTags: kubectlTags };

/**
 * Every document of `text` read as kubectl reads it (KUBECTL_YAML); errors are left on each
 * Document's `errors` for the caller to report, as parseAllDocuments does.
 */
export function parseKubeDocuments(text: string): Document.Parsed[] {
  const docs = parseAllDocuments(text, KUBECTL_YAML);
  return Array.isArray(docs) ? docs : [docs];
}

/**
 * The one document of `text` as a plain value, read as kubectl reads it (KUBECTL_YAML), with
 * duplicate keys refused. Throws the yaml library's YAMLParseError (with line and column) when the
 * text is not valid YAML or holds more than one document.
 */
export function parseKubeYaml(text: string): unknown {
  return parse(text, { ...KUBECTL_YAML, uniqueKeys: true, prettyErrors: true }) as unknown;
}
