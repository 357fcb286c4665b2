import { describe, expect, it } from "vitest";
import { renderKlusterletTemplate } from "./klusterlet.ts";

// The shape of OCM's manifests/klusterlet templates (labels block, substitutions, an AWS-only block).
const template = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .WorkServiceAccount }}
  namespace: {{ .KlusterletNamespace }}
  labels:
    {{ if gt (len .Labels) 0 }}
    {{ range $key, $value := .Labels }}
    "{{ $key }}": "{{ $value }}"
    {{ end }}
    {{ end }}
  {{ if and .ManagedClusterRoleArn (eq .RegistrationDriver.AuthType "awsirsa") }}
  annotations:
    eks.amazonaws.com/role-arn: {{ .ManagedClusterRoleArn }}
  {{ end }}
imagePullSecrets:
- name: pull`;

describe("klusterlet manifest rendering", () => {
  it("substitutes names and drops the label and AWS blocks of a klusterlet without labels", () => {
    const out = renderKlusterletTemplate(template, { WorkServiceAccount: "klusterlet-work-sa", KlusterletNamespace: "open-cluster-management-agent" });
    expect(out).toBe(`apiVersion: v1
kind: ServiceAccount
metadata:
  name: klusterlet-work-sa
  namespace: open-cluster-management-agent
  labels:
imagePullSecrets:
- name: pull`);
  });

  it("refuses a value it was not given and a template action it does not know", () => {
    expect(() => renderKlusterletTemplate("name: {{ .KlusterletName }}", {})).toThrow(/no value for \{\{ \.KlusterletName \}\}/);
    expect(() => renderKlusterletTemplate("name: {{ printf \"%s\" .X }}", {})).toThrow(/not understood/);
  });
});
