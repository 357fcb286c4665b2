// Admission cases shared by the zod unit tests and the API-server e2e test: each invalid
// object must be rejected by both, with the same actionable message.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import {
  CONTAINER_IMAGE_MESSAGE,
  FILES_TO_SIGN_MESSAGE,
  IMAGE_TAG_MESSAGE,
  LITERAL_AND_REGEXP_MESSAGE,
  LITERAL_OR_REGEXP_MESSAGE,
  LOADING_ORDER_FIRST_MESSAGE,
  LOADING_ORDER_SIZE_MESSAGE,
  LOADING_ORDER_UNIQUE_MESSAGE,
  MODULE_API_VERSION,
  MODULE_NAME_LENGTH_MESSAGE,
  RAW_ARGS_REQUIRED_MESSAGE,
  RAW_ARGS_WITH_MODULE_NAME_MESSAGE,
  VERSION_IMMUTABLE_MESSAGE,
} from "../module.ts";
import { HUB_API_VERSION, MCM_NAME_LENGTH_MESSAGE } from "../managedclustermodule.ts";

export const SEEDS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "seeds");

export interface SeedExample {
  file: string;
  object: Record<string, unknown>;
}

export function seedExamples(): SeedExample[] {
  return readdirSync(SEEDS_DIR)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((file) => ({ file, object: parse(readFileSync(path.join(SEEDS_DIR, file), "utf8")) as Record<string, unknown> }));
}

type Spec = Record<string, unknown>;

/** A small valid Module spec each case bends in one place. */
export function validSpec(): Spec {
  return {
    moduleLoader: {
      container: {
        modprobe: { moduleName: "kmm_ci_a" },
        kernelMappings: [{ regexp: "^.+$", containerImage: "registry.example.com/org/kmm-ci:${KERNEL_FULL_VERSION}" }],
      },
    },
    selector: { "kubernetes.io/arch": "amd64" },
  };
}

export function moduleObject(name: string, namespace: string, spec: Spec): Record<string, unknown> {
  return { apiVersion: MODULE_API_VERSION, kind: "Module", metadata: { name, namespace }, spec };
}

export function mcmObject(name: string, spokeNamespace: string, moduleSpec: Spec): Record<string, unknown> {
  return {
    apiVersion: HUB_API_VERSION,
    kind: "ManagedClusterModule",
    metadata: { name },
    spec: { moduleSpec, spokeNamespace, selector: { "cluster.open-cluster-management.io/clusterset": "default" } },
  };
}

interface Container {
  modprobe: Record<string, unknown>;
  kernelMappings: Record<string, unknown>[];
  [key: string]: unknown;
}

function withContainer(edit: (c: Container) => void): Spec {
  const spec = validSpec();
  const loader = spec.moduleLoader as { container: Container };
  edit(loader.container);
  return spec;
}

function firstMapping(c: Container): Record<string, unknown> {
  const km = c.kernelMappings[0];
  if (km === undefined) throw new Error("validSpec has no kernel mapping");
  return km;
}

export interface SpecCase {
  name: string;
  spec: Spec;
  message: string;
}

const signature = { keySecret: { name: "signing-key" }, certSecret: { name: "signing-cert" } };

/** Module spec rules: they hold for a Module and for an MCM's moduleSpec alike. */
export const invalidSpecCases: SpecCase[] = [
  {
    name: "kernel mapping with both literal and regexp",
    spec: withContainer((c) => {
      firstMapping(c).literal = "6.0.15-300.fc37.x86_64";
    }),
    message: LITERAL_AND_REGEXP_MESSAGE,
  },
  {
    name: "kernel mapping with neither literal nor regexp",
    spec: withContainer((c) => {
      delete firstMapping(c).regexp;
    }),
    message: LITERAL_OR_REGEXP_MESSAGE,
  },
  {
    name: "no image at mapping or container level",
    spec: withContainer((c) => {
      delete firstMapping(c).containerImage;
    }),
    message: CONTAINER_IMAGE_MESSAGE,
  },
  {
    name: "mapping image without tag or digest",
    spec: withContainer((c) => {
      firstMapping(c).containerImage = "registry.example.com/org/kmm-ci";
    }),
    message: IMAGE_TAG_MESSAGE,
  },
  {
    name: "container image with a registry port but no tag",
    spec: withContainer((c) => {
      delete firstMapping(c).containerImage;
      c.containerImage = "registry.example.com:5000/org/kmm-ci";
    }),
    message: IMAGE_TAG_MESSAGE,
  },
  {
    name: "unsigned image without tag",
    spec: withContainer((c) => {
      firstMapping(c).sign = { ...signature, unsignedImage: "registry.example.com/org/unsigned", filesToSign: ["/opt/a.ko"] };
    }),
    message: IMAGE_TAG_MESSAGE,
  },
  {
    name: "device plugin image without tag",
    spec: { ...validSpec(), devicePlugin: { container: { image: "registry.example.com/org/device-plugin" } } },
    message: IMAGE_TAG_MESSAGE,
  },
  {
    name: "moduleName together with rawArgs",
    spec: withContainer((c) => {
      c.modprobe = { moduleName: "kmm_ci_a", rawArgs: { load: ["kmm_ci_a"], unload: ["-r", "kmm_ci_a"] } };
    }),
    message: RAW_ARGS_WITH_MODULE_NAME_MESSAGE,
  },
  {
    name: "rawArgs without unload and without moduleName",
    spec: withContainer((c) => {
      c.modprobe = { rawArgs: { load: ["kmm_ci_a"] } };
    }),
    message: RAW_ARGS_REQUIRED_MESSAGE,
  },
  {
    name: "neither moduleName nor rawArgs",
    spec: withContainer((c) => {
      c.modprobe = { dirName: "/opt" };
    }),
    message: RAW_ARGS_REQUIRED_MESSAGE,
  },
  {
    name: "modulesLoadingOrder with one entry",
    spec: withContainer((c) => {
      c.modprobe = { moduleName: "kmm_ci_a", modulesLoadingOrder: ["kmm_ci_a"] };
    }),
    message: LOADING_ORDER_SIZE_MESSAGE,
  },
  {
    name: "modulesLoadingOrder not starting with moduleName",
    spec: withContainer((c) => {
      c.modprobe = { moduleName: "kmm_ci_a", modulesLoadingOrder: ["kmm_ci_b", "kmm_ci_a"] };
    }),
    message: LOADING_ORDER_FIRST_MESSAGE,
  },
  {
    name: "modulesLoadingOrder with a duplicate",
    spec: withContainer((c) => {
      c.modprobe = { moduleName: "kmm_ci_a", modulesLoadingOrder: ["kmm_ci_a", "kmm_ci_b", "kmm_ci_b"] };
    }),
    message: LOADING_ORDER_UNIQUE_MESSAGE,
  },
  {
    name: "sign without filesToSign",
    spec: withContainer((c) => {
      c.sign = { ...signature };
    }),
    message: FILES_TO_SIGN_MESSAGE,
  },
  {
    name: "mapping-level sign with an empty filesToSign",
    spec: withContainer((c) => {
      firstMapping(c).sign = { ...signature, filesToSign: [] };
    }),
    message: FILES_TO_SIGN_MESSAGE,
  },
];

/** Specs the rules must let through (edge cases next to the rejected ones). */
export const validSpecCases: { name: string; spec: Spec }[] = [
  {
    name: "image pinned by digest",
    spec: withContainer((c) => {
      firstMapping(c).containerImage = `registry.example.com:5000/org/kmm-ci@sha256:${"a".repeat(64)}`;
    }),
  },
  {
    name: "image only at container level",
    spec: withContainer((c) => {
      delete firstMapping(c).containerImage;
      c.containerImage = "registry.example.com:5000/org/kmm-ci:${KERNEL_FULL_VERSION}";
    }),
  },
  {
    name: "rawArgs without moduleName",
    spec: withContainer((c) => {
      c.modprobe = { rawArgs: { load: ["-v", "kmm_ci_a"], unload: ["-rv", "kmm_ci_a"] } };
    }),
  },
  {
    name: "upstream Go client's empty strings for unset fields",
    spec: withContainer((c) => {
      c.containerImage = "";
      c.version = "";
      c.kernelMappings = [{ literal: "", regexp: "^.+$", containerImage: "registry.example.com/org/kmm-ci:v1" }];
    }),
  },
  {
    name: "sign with filesToSign and a version",
    spec: withContainer((c) => {
      c.sign = { ...signature, filesToSign: ["/opt/lib/modules/${KERNEL_FULL_VERSION}/kmm_ci_a.ko"] };
      c.version = "1.0.0";
    }),
  },
];

export interface ObjectCase {
  name: string;
  object: Record<string, unknown>;
  message: string;
}

/** 21 + 21 = 42 characters: one over the limit. */
export const tooLongName = "a".repeat(21);

export const invalidModuleNameCase: ObjectCase = {
  name: "Module name + namespace over 41 characters",
  object: moduleObject(tooLongName, "b".repeat(21), validSpec()),
  message: MODULE_NAME_LENGTH_MESSAGE,
};

export const invalidMcmNameCase: ObjectCase = {
  name: "MCM name + spokeNamespace over 41 characters",
  object: mcmObject(tooLongName, "b".repeat(21), validSpec()),
  message: MCM_NAME_LENGTH_MESSAGE,
};

export const versionTransitionCases = {
  add: (c: Container) => {
    c.version = "2.0.0";
  },
  remove: (c: Container) => {
    delete c.version;
  },
  message: VERSION_IMMUTABLE_MESSAGE,
};

export { withContainer };
