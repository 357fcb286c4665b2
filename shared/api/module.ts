// kmm.sigs.x-k8s.io/v1beta1 Module: field names and meaning follow upstream KMM so that a
// Module written for upstream is accepted unchanged. The CRD in crds/ is generated from
// these schemas (scripts/gen-crds.ts); the admission rules live beside the fields they guard.
import { z } from "zod";
import {
  int32,
  localObjectReferenceSchema,
  objectMetaSchema,
} from "../k8s/core.generated.ts";
import {
  devicePluginPodRules,
  devicePluginPodProblems,
  envSchema,
  kubernetesName,
  labelValue,
  nodeSelectorSchema,
  tolerationsSchema,
  validatedProbeSchema,
  validatedResourceRequirementsSchema,
  volumeMountsSchema,
  volumesSchema,
} from "./pod-fields.ts";
import { compileRE2, RE2SyntaxError } from "../kernel-mapping/regexp.ts";
import { conditionsSchema } from "./conditions.ts";
import { celIsSet, isSet, withRules, type AdmissionRule } from "./rules.ts";

export const MODULE_GROUP = "kmm.sigs.x-k8s.io";
export const MODULE_VERSION = "v1beta1";
export const MODULE_API_VERSION = `${MODULE_GROUP}/${MODULE_VERSION}`;
export const MODULE_KIND = "Module";
export const MODULE_PLURAL = "modules";

/**
 * Node labels are `<namespace>.<name>` plus a suffix, and label names stop at 63 characters,
 * so name + namespace of a Module (or MCM name + spokeNamespace) must stay within this.
 */
export const MAX_NAME_AND_NAMESPACE_LENGTH = 41;

// Bounds keep the CEL cost estimate of the rules below within the API server's budget.
export const MAX_KERNEL_MAPPINGS = 128;
export const MAX_IMAGE_LENGTH = 512;
export const MAX_KERNEL_VERSION_LENGTH = 256;
export const MAX_REGEXP_LENGTH = 1024;
export const MAX_MODULE_NAME_LENGTH = 64;
export const MAX_LOADING_ORDER = 32;
export const MAX_FILES_TO_SIGN = 64;
export const MAX_FILE_PATH_LENGTH = 1024;

const DIGEST_PATTERN = "@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}$";
const TAG_PATTERN = "^[^@]*:[^/:@]+$";
const digestRegExp = new RegExp(DIGEST_PATTERN);
const tagRegExp = new RegExp(TAG_PATTERN);

export const IMAGE_TAG_MESSAGE =
  "image must carry a tag or a digest, e.g. registry.example.com/org/kmod:${KERNEL_FULL_VERSION} or registry.example.com/org/kmod@sha256:<digest>";

/** Kubernetes' rule for a pod's container image (validateContainerOnlyForPod). */
export const IMAGE_WHITESPACE_MESSAGE = "must not have leading or trailing whitespace";

/** True when an image reference names a tag or a digest (a registry port is not a tag). */
export function hasTagOrDigest(image: string): boolean {
  return digestRegExp.test(image) || tagRegExp.test(image);
}

/** An image reference that must pin a tag or digest; "" stays allowed because Go clients send it for "unset". */
function imageReference(description: string) {
  return z
    .string()
    .max(MAX_IMAGE_LENGTH)
    .meta({
      description,
      "x-kubernetes-validations": [
        { rule: `self == '' || self.matches('${DIGEST_PATTERN}') || self.matches('${TAG_PATTERN}')`, message: IMAGE_TAG_MESSAGE },
        { rule: "self == self.trim()", message: IMAGE_WHITESPACE_MESSAGE },
      ],
    })
    .refine((image) => image === "" || hasTagOrDigest(image), { message: IMAGE_TAG_MESSAGE })
    .refine((image) => image === image.trim(), { message: IMAGE_WHITESPACE_MESSAGE });
}

const stringList = (description: string) => z.array(z.string()).meta({ description });

export const imagePullPolicySchema = z
  .enum(["Always", "IfNotPresent", "Never"])
  .meta({ description: "Image pull policy: Always, Never or IfNotPresent." });
export type ImagePullPolicy = z.infer<typeof imagePullPolicySchema>;

export const registryTLSSchema = z
  .object({
    insecure: z.boolean().meta({ description: "Allow plain HTTP to the registry." }).optional(),
    insecureSkipTLSVerify: z
      .boolean()
      .meta({ description: "Accept any certificate the registry presents." })
      .optional(),
  })
  .meta({ description: "How to reach a container registry." });
export type RegistryTLS = z.infer<typeof registryTLSSchema>;

export const buildArgSchema = z.object({
  name: z.string(),
  value: z.string(),
});
export type BuildArg = z.infer<typeof buildArgSchema>;

export const kanikoParamsSchema = z.object({
  tag: z.string().meta({ description: "Kaniko image tag to use for the build Job." }).optional(),
});
export type KanikoParams = z.infer<typeof kanikoParamsSchema>;

/** Kubernetes requires the name of a Secret or ConfigMap volume (the sign and build Jobs mount these). */
export const SECRET_NAME_REQUIRED_MESSAGE = "name the Secret: the sign Job mounts it as a volume, and Kubernetes requires a volume's secretName";
export const CONFIG_MAP_NAME_REQUIRED_MESSAGE =
  "name the ConfigMap holding the Dockerfile: the build Job mounts it as a volume, and Kubernetes requires a volume's configMap name";

export const buildSchema = withRules(
  z
  .object({
    buildArgs: z
      .array(buildArgSchema)
      .meta({ description: "Build arguments passed to the image build, besides the KERNEL_* and MOD_* ones KMM sets." })
      .optional(),
    dockerfileConfigMap: localObjectReferenceSchema.meta({
      description: "ConfigMap holding the Dockerfile (key Dockerfile).",
    }),
    baseImageRegistryTLS: registryTLSSchema
      .meta({ description: "How to reach the registries of the Dockerfile's base images." })
      .optional(),
    secrets: z
      .array(localObjectReferenceSchema)
      .meta({ description: "Secrets mounted into the build under /run/secrets/<name>." })
      .optional(),
    kanikoParams: kanikoParamsSchema.optional(),
    selector: nodeSelectorSchema("Node labels the build Job must run on.").optional(),
  })
  .meta({ description: "In-cluster build of the kmod image." }),
  [
    {
      rule: "has(self.dockerfileConfigMap.name) && self.dockerfileConfigMap.name != ''",
      message: CONFIG_MAP_NAME_REQUIRED_MESSAGE,
      fieldPath: ".dockerfileConfigMap.name",
      reason: "FieldValueRequired",
      check: (b) => isSet(b.dockerfileConfigMap.name),
    },
  ],
);
export type Build = z.infer<typeof buildSchema>;

export const FILES_TO_SIGN_MESSAGE =
  "filesToSign is required with sign: list the .ko files in the image to sign, e.g. /opt/lib/modules/${KERNEL_FULL_VERSION}/my_kmod.ko";

export const signSchema = withRules(
  z
    .object({
      unsignedImage: imageReference(
        "Image holding the unsigned kmods; ignored when a build is configured, required otherwise.",
      ).optional(),
      unsignedImageRegistryTLS: registryTLSSchema
        .meta({ description: "How to reach the registry of the unsigned image." })
        .optional(),
      keySecret: localObjectReferenceSchema.meta({ description: "Secret with the private signing key (key 'key')." }),
      certSecret: localObjectReferenceSchema.meta({ description: "Secret with the public certificate (key 'cert')." }),
      filesToSign: z
        .array(z.string().max(MAX_FILE_PATH_LENGTH))
        .max(MAX_FILES_TO_SIGN)
        .meta({ description: "Paths or Bash globs, inside the image, of the kernel modules to sign; each under modprobe.dirName." })
        .optional(),
    })
    .meta({ description: "In-cluster signing of the kmods for Secure Boot." }),
  [
    {
      rule: "has(self.filesToSign) && size(self.filesToSign) > 0",
      message: FILES_TO_SIGN_MESSAGE,
      fieldPath: ".filesToSign",
      reason: "FieldValueRequired",
      check: (s) => (s.filesToSign?.length ?? 0) > 0,
    },
    {
      rule: "has(self.keySecret.name) && self.keySecret.name != ''",
      message: SECRET_NAME_REQUIRED_MESSAGE,
      fieldPath: ".keySecret.name",
      reason: "FieldValueRequired",
      check: (s) => isSet(s.keySecret.name),
    },
    {
      rule: "has(self.certSecret.name) && self.certSecret.name != ''",
      message: SECRET_NAME_REQUIRED_MESSAGE,
      fieldPath: ".certSecret.name",
      reason: "FieldValueRequired",
      check: (s) => isSet(s.certSecret.name),
    },
  ],
);
export type Sign = z.infer<typeof signSchema>;

export const modprobeArgsSchema = z.object({
  load: z.array(z.string()).min(1).meta({ description: "Arguments used when loading." }).optional(),
  unload: z.array(z.string()).min(1).meta({ description: "Arguments used when unloading." }).optional(),
});
export type ModprobeArgs = z.infer<typeof modprobeArgsSchema>;

export const RAW_ARGS_WITH_MODULE_NAME_MESSAGE =
  "rawArgs cannot be used together with moduleName: remove rawArgs, or remove moduleName to pass rawArgs to modprobe verbatim";
export const RAW_ARGS_REQUIRED_MESSAGE =
  "moduleName is required unless both rawArgs.load and rawArgs.unload are set";
export const LOADING_ORDER_SIZE_MESSAGE =
  "modulesLoadingOrder needs at least two modules: moduleName first, then the modules it depends on";
export const LOADING_ORDER_FIRST_MESSAGE = "modulesLoadingOrder must start with moduleName";
export const LOADING_ORDER_UNIQUE_MESSAGE = "modulesLoadingOrder must not list a module more than once";

const moduleNameSet = celIsSet("self.moduleName");

const modprobeRules: AdmissionRule<{
  moduleName?: string | undefined;
  rawArgs?: ModprobeArgs | undefined;
  modulesLoadingOrder?: string[] | undefined;
}>[] = [
  {
    rule: `!${moduleNameSet} || !has(self.rawArgs) || (!has(self.rawArgs.load) && !has(self.rawArgs.unload))`,
    message: RAW_ARGS_WITH_MODULE_NAME_MESSAGE,
    fieldPath: ".rawArgs",
    reason: "FieldValueForbidden",
    check: (m) => !isSet(m.moduleName) || (m.rawArgs?.load === undefined && m.rawArgs?.unload === undefined),
  },
  {
    rule: `${moduleNameSet} || (has(self.rawArgs) && has(self.rawArgs.load) && has(self.rawArgs.unload))`,
    message: RAW_ARGS_REQUIRED_MESSAGE,
    fieldPath: ".moduleName",
    reason: "FieldValueRequired",
    check: (m) => isSet(m.moduleName) || (m.rawArgs?.load !== undefined && m.rawArgs.unload !== undefined),
  },
  {
    rule: "!has(self.modulesLoadingOrder) || size(self.modulesLoadingOrder) >= 2",
    message: LOADING_ORDER_SIZE_MESSAGE,
    fieldPath: ".modulesLoadingOrder",
    check: (m) => m.modulesLoadingOrder === undefined || m.modulesLoadingOrder.length >= 2,
  },
  {
    rule: `!has(self.modulesLoadingOrder) || size(self.modulesLoadingOrder) == 0 || (${moduleNameSet} && self.modulesLoadingOrder[0] == self.moduleName)`,
    message: LOADING_ORDER_FIRST_MESSAGE,
    fieldPath: ".modulesLoadingOrder",
    check: (m) =>
      m.modulesLoadingOrder === undefined ||
      m.modulesLoadingOrder.length === 0 ||
      (isSet(m.moduleName) && m.modulesLoadingOrder[0] === m.moduleName),
  },
  {
    rule: "!has(self.modulesLoadingOrder) || self.modulesLoadingOrder.all(m, self.modulesLoadingOrder.exists_one(n, n == m))",
    message: LOADING_ORDER_UNIQUE_MESSAGE,
    fieldPath: ".modulesLoadingOrder",
    check: (m) => m.modulesLoadingOrder === undefined || new Set(m.modulesLoadingOrder).size === m.modulesLoadingOrder.length,
  },
];

export const modprobeSpecSchema = withRules(
  z
    .object({
      moduleName: z
        .string()
        .max(MAX_MODULE_NAME_LENGTH)
        .meta({ description: "Name of the kernel module to load; may be unset only when rawArgs is set." })
        .optional(),
      parameters: stringList("Module parameters (key=value) appended to the modprobe command.").optional(),
      dirName: z
        .string()
        .max(MAX_FILE_PATH_LENGTH)
        .default("/opt")
        .meta({ description: "Root directory of the modules in the image (modprobe -d)." }),
      args: modprobeArgsSchema
        .meta({ description: "Arguments passed to modprobe before the module name." })
        .optional(),
      rawArgs: modprobeArgsSchema
        .meta({ description: "Arguments passed to modprobe verbatim; excludes moduleName." })
        .optional(),
      firmwarePath: z
        .string()
        .meta({ description: "Directory in the image whose files are copied to the node's firmware path." })
        .optional(),
      modulesLoadingOrder: z
        .array(z.string().max(MAX_MODULE_NAME_LENGTH))
        .max(MAX_LOADING_ORDER)
        .meta({
          description: "Soft dependencies: moduleName first, then the modules it needs, loaded last to first.",
        })
        .optional(),
    })
    .meta({ description: "Which module modprobe loads, and how." }),
  modprobeRules,
);
export type ModprobeSpec = z.infer<typeof modprobeSpecSchema>;

export const REGEXP_SYNTAX_MESSAGE = "regexp must be a valid RE2 regular expression (Go's regexp syntax, as upstream KMM)";
export const IN_TREE_BOTH_MESSAGE =
  "set inTreeModulesToRemove or the deprecated inTreeModuleToRemove, not both";
export const IN_TREE_MIXED_MESSAGE =
  "kernel mappings and their container must use the same in-tree field: inTreeModulesToRemove in both, or the deprecated inTreeModuleToRemove in both";
export const FILES_UNDER_DIR_NAME_MESSAGE =
  "every filesToSign entry must lie under modprobe.dirName (default /opt), e.g. /opt/lib/modules/${KERNEL_FULL_VERSION}/my_kmod.ko";

/** RE2's complaint about a pattern, as upstream's webhook would raise it; undefined when it compiles. */
export function regexpProblem(pattern: string): string | undefined {
  try {
    compileRE2(pattern);
    return undefined;
  } catch (e) {
    if (e instanceof RE2SyntaxError) return e.message;
    throw e;
  }
}

export const LITERAL_AND_REGEXP_MESSAGE =
  "literal and regexp are mutually exclusive: set only one of them in each kernel mapping";
export const LITERAL_OR_REGEXP_MESSAGE =
  "set literal (an exact kernel version) or regexp (an RE2 pattern) in each kernel mapping";

export const kernelMappingSchema = withRules(
  z
    .object({
      literal: z
        .string()
        .max(MAX_KERNEL_VERSION_LENGTH)
        .meta({ description: "Kernel version matched exactly." })
        .optional(),
      regexp: z
        .string()
        .max(MAX_REGEXP_LENGTH)
        .meta({ description: "RE2 regular expression matched against kernel versions." })
        .optional(),
      containerImage: imageReference(
        "kmod image for the matching kernels; ${KERNEL_*} and ${MOD_*} variables are substituted.",
      ).optional(),
      build: buildSchema.meta({ description: "Build settings for this mapping; override the container's." }).optional(),
      sign: signSchema.meta({ description: "Signing settings for this mapping; override the container's." }).optional(),
      registryTLS: registryTLSSchema.optional(),
      inTreeModulesToRemove: stringList("In-tree modules unloaded before the module is loaded.").optional(),
      inTreeModuleToRemove: z
        .string()
        .meta({ description: "Deprecated: use inTreeModulesToRemove." })
        .optional(),
    })
    .meta({ description: "Kernel versions (literal or regexp) and the image that serves them." }),
  [
    {
      rule: `!(${celIsSet("self.literal")} && ${celIsSet("self.regexp")})`,
      message: LITERAL_AND_REGEXP_MESSAGE,
      check: (km) => !(isSet(km.literal) && isSet(km.regexp)),
    },
    {
      rule: `${celIsSet("self.literal")} || ${celIsSet("self.regexp")}`,
      message: LITERAL_OR_REGEXP_MESSAGE,
      reason: "FieldValueRequired",
      check: (km) => isSet(km.literal) || isSet(km.regexp),
    },
    {
      // A pattern that is not RE2 makes matches() fail, and the API server refuses the object with
      // RE2's own error (Go's regexp, as upstream's webhook compiles it). `a || !a` keeps the error.
      rule: `!${celIsSet("self.regexp")} || ('x'.matches(self.regexp) || !'x'.matches(self.regexp))`,
      message: REGEXP_SYNTAX_MESSAGE,
      fieldPath: ".regexp",
    },
    {
      rule: `!(has(self.inTreeModulesToRemove) && ${celIsSet("self.inTreeModuleToRemove")})`,
      message: IN_TREE_BOTH_MESSAGE,
      fieldPath: ".inTreeModuleToRemove",
      reason: "FieldValueForbidden",
    },
  ],
);
export type KernelMapping = z.infer<typeof kernelMappingSchema>;

export const CONTAINER_IMAGE_MESSAGE =
  "every kernel mapping needs a containerImage unless moduleLoader.container.containerImage is set";
export const VERSION_IMMUTABLE_MESSAGE =
  "version cannot be added to or removed from an existing Module: change its value to run an ordered upgrade, or delete and recreate the Module";

// dirName has a CRD default, so the API server always sees it; the guard keeps the rule total.
const CEL_DIR_NAME = "(has(self.modprobe.dirName) ? self.modprobe.dirName : '/opt')";

/** Upstream's webhook: signed files must lie under dirName (the prefix is dirName plus '/'). */
function filesOutsideDirName(c: { modprobe: { dirName?: string | undefined } }, sign: Sign | undefined): string[] {
  const prefix = `${c.modprobe.dirName ?? "/opt"}/`;
  return (sign?.filesToSign ?? []).filter((f) => !f.startsWith(prefix));
}
function filesOutsideDirNameMessage(c: { modprobe: { dirName?: string | undefined } }, sign: Sign | undefined, where = ""): string {
  return `filesToSign entry "${filesOutsideDirName(c, sign)[0] ?? ""}"${where} is not under modprobe.dirName "${c.modprobe.dirName ?? "/opt"}"`;
}

export const moduleLoaderContainerSpecSchema = withRules(
  z
    .object({
      modprobe: modprobeSpecSchema,
      kernelMappings: z
        .array(kernelMappingSchema)
        .min(1)
        .max(MAX_KERNEL_MAPPINGS)
        .meta({ description: "Kernel mappings; the first one matching a node's kernel wins." }),
      containerImage: imageReference("Default kmod image for mappings that name none.").optional(),
      imagePullPolicy: imagePullPolicySchema.optional(),
      build: buildSchema.optional(),
      sign: signSchema.optional(),
      registryTLS: registryTLSSchema.optional(),
      inTreeModulesToRemove: stringList("In-tree modules unloaded before the module is loaded.").optional(),
      inTreeModuleToRemove: z
        .string()
        .meta({ description: "Deprecated: use inTreeModulesToRemove." })
        .optional(),
      version: labelValue(
        "Version of the kmod, for ordered upgrades driven by node labels: a label value, since nodes are selected by it.",
      ).optional(),
    })
    .meta({ description: "The container that loads the module with modprobe." }),
  [
    {
      rule: `${celIsSet("self.containerImage")} || self.kernelMappings.all(km, ${celIsSet("km.containerImage")})`,
      message: CONTAINER_IMAGE_MESSAGE,
      fieldPath: ".kernelMappings",
      reason: "FieldValueRequired",
      check: (c) => isSet(c.containerImage) || c.kernelMappings.every((km) => isSet(km.containerImage)),
    },
    {
      rule: `!(has(self.inTreeModulesToRemove) && ${celIsSet("self.inTreeModuleToRemove")})`,
      message: IN_TREE_BOTH_MESSAGE,
      fieldPath: ".inTreeModuleToRemove",
      reason: "FieldValueForbidden",
    },
    {
      rule: `self.kernelMappings.all(km, !(has(km.inTreeModulesToRemove) && ${celIsSet("self.inTreeModuleToRemove")}) && !(${celIsSet("km.inTreeModuleToRemove")} && has(self.inTreeModulesToRemove)))`,
      message: IN_TREE_MIXED_MESSAGE,
      fieldPath: ".kernelMappings",
      reason: "FieldValueForbidden",
    },
    {
      rule: `!has(self.sign) || !has(self.sign.filesToSign) || self.sign.filesToSign.all(f, f.startsWith(${CEL_DIR_NAME} + '/'))`,
      message: FILES_UNDER_DIR_NAME_MESSAGE,
      messageExpression: `'filesToSign entry "' + self.sign.filesToSign.filter(f, !f.startsWith(${CEL_DIR_NAME} + '/'))[0] + '" is not under modprobe.dirName "' + ${CEL_DIR_NAME} + '"'`,
      fieldPath: ".sign.filesToSign",
    },
    {
      rule: `self.kernelMappings.all(km, !has(km.sign) || !has(km.sign.filesToSign) || km.sign.filesToSign.all(f, f.startsWith(${CEL_DIR_NAME} + '/')))`,
      message: FILES_UNDER_DIR_NAME_MESSAGE,
      messageExpression: `'filesToSign entry "' + self.kernelMappings.filter(km, has(km.sign) && has(km.sign.filesToSign) && km.sign.filesToSign.exists(f, !f.startsWith(${CEL_DIR_NAME} + '/')))[0].sign.filesToSign.filter(f, !f.startsWith(${CEL_DIR_NAME} + '/'))[0] + '" of a kernel mapping is not under modprobe.dirName "' + ${CEL_DIR_NAME} + '"'`,
      fieldPath: ".kernelMappings",
    },
    {
      rule: `${celIsSet("self.version")} == ${celIsSet("oldSelf.version")}`,
      message: VERSION_IMMUTABLE_MESSAGE,
      fieldPath: ".version",
      reason: "FieldValueForbidden",
    },
  ],
);
export type ModuleLoaderContainerSpec = z.infer<typeof moduleLoaderContainerSpecSchema>;

/** A rule a spec breaks: the field (API server notation, relative to the spec) and the message. */
export interface FieldProblem {
  field: string;
  message: string;
}

/**
 * Upstream KMM's webhook rules that the CRD enforces with CEL but zod deliberately does not:
 * regexp validity (RE2), inTreeModuleToRemove vs inTreeModulesToRemove, filesToSign under dirName.
 * zod leaves them out so that objects stored before the CRD carried them still parse and reach the
 * controllers, which must then refuse them visibly (status condition + Event) instead of acting on
 * them. Also Kubernetes' rules the CRD cannot carry within the API server's CEL cost budget
 * (devicePluginPodProblems: duplicate paths in a projected volume, label/annotation subscript keys,
 * the inner fields of the rarer volume sources). Returns [] for a spec upstream and Kubernetes would
 * admit. Fields are relative to the Module spec
 * (`moduleLoader.container.kernelMappings[2].regexp`); prefix `spec.` or `spec.moduleSpec.`.
 */
export function upstreamRuleProblems(spec: ModuleSpec): FieldProblem[] {
  const problems: FieldProblem[] = [];
  // Kubernetes' own rules that CEL cannot afford (see devicePluginPodProblems): the API server admits them.
  if (spec.devicePlugin !== undefined) {
    for (const p of devicePluginPodProblems(spec.devicePlugin)) problems.push({ field: `devicePlugin${p.field}`, message: p.message });
  }
  const c = spec.moduleLoader?.container;
  if (c === undefined) return problems;
  const at = "moduleLoader.container";
  if (c.inTreeModulesToRemove !== undefined && isSet(c.inTreeModuleToRemove)) {
    problems.push({ field: `${at}.inTreeModuleToRemove`, message: IN_TREE_BOTH_MESSAGE });
  }
  const outside = filesOutsideDirName(c, c.sign);
  if (outside.length > 0) problems.push({ field: `${at}.sign.filesToSign`, message: filesOutsideDirNameMessage(c, c.sign) });
  c.kernelMappings.forEach((km, i) => {
    const kmAt = `${at}.kernelMappings[${i}]`;
    const re = isSet(km.regexp) ? regexpProblem(km.regexp) : undefined;
    // The API server reports a runtime CEL error at the mapping, not at its regexp field.
    if (re !== undefined) problems.push({ field: kmAt, message: `${REGEXP_SYNTAX_MESSAGE}: ${re}` });
    if (km.inTreeModulesToRemove !== undefined && isSet(km.inTreeModuleToRemove)) {
      problems.push({ field: `${kmAt}.inTreeModuleToRemove`, message: IN_TREE_BOTH_MESSAGE });
    }
    if (
      (km.inTreeModulesToRemove !== undefined && isSet(c.inTreeModuleToRemove)) ||
      (isSet(km.inTreeModuleToRemove) && c.inTreeModulesToRemove !== undefined)
    ) {
      problems.push({ field: `${at}.kernelMappings`, message: IN_TREE_MIXED_MESSAGE });
    }
    if (filesOutsideDirName(c, km.sign).length > 0) {
      problems.push({ field: `${at}.kernelMappings`, message: filesOutsideDirNameMessage(c, km.sign, " of a kernel mapping") });
    }
  });
  return problems;
}

/** Version may change, but not appear or disappear, on an existing Module (the CEL transition rule). */
export function versionTransitionAllowed(
  old: ModuleLoaderContainerSpec | undefined,
  next: ModuleLoaderContainerSpec | undefined,
): boolean {
  if (old === undefined || next === undefined) return true;
  return isSet(old.version) === isSet(next.version);
}

export const moduleLoaderSpecSchema = z.object({
  container: moduleLoaderContainerSpecSchema,
  serviceAccountName: kubernetesName(
    "dns1123Subdomain",
    "ServiceAccount of the module loader pods.",
  ).optional(),
});
export type ModuleLoaderSpec = z.infer<typeof moduleLoaderSpecSchema>;

export const devicePluginContainerSpecSchema = z.object({
  image: imageReference("Device plugin image.").min(1),
  command: stringList("Entrypoint; the image's ENTRYPOINT when unset.").optional(),
  args: stringList("Arguments to the entrypoint; the image's CMD when unset.").optional(),
  env: envSchema.meta({ description: "Environment variables of the container." }).optional(),
  imagePullPolicy: imagePullPolicySchema.optional(),
  resources: validatedResourceRequirementsSchema.meta({ description: "Compute resources of the container." }).optional(),
  volumeMounts: volumeMountsSchema.meta({ description: "Volume mounts added to the default ones." }).optional(),
  startupProbe: validatedProbeSchema.meta({ description: "Startup probe of the container." }).optional(),
  livenessProbe: validatedProbeSchema.meta({ description: "Liveness probe of the container." }).optional(),
});
export type DevicePluginContainerSpec = z.infer<typeof devicePluginContainerSpecSchema>;

export const devicePluginSpecSchema = withRules(
  z
  .object({
    container: devicePluginContainerSpecSchema,
    initContainer: devicePluginContainerSpecSchema
      .meta({ description: "Init container of the device plugin pod." })
      .optional(),
    volumes: volumesSchema.meta({ description: "Volumes of the device plugin pod." }).optional(),
    serviceAccountName: kubernetesName(
      "dns1123Subdomain",
      "ServiceAccount of the device plugin pods.",
    ).optional(),
    automountServiceAccountToken: z
      .boolean()
      .meta({ description: "Set false to keep the ServiceAccount token out of the device plugin pod." })
      .optional(),
  })
  .meta({ description: "Device plugin DaemonSet run on nodes where the module is loaded." }),
  devicePluginPodRules,
);
export type DevicePluginSpec = z.infer<typeof devicePluginSpecSchema>;

export const moduleSpecSchema = z
  .object({
    moduleLoader: moduleLoaderSpecSchema
      .meta({ description: "How the kernel module is loaded on the nodes." })
      .optional(),
    devicePlugin: devicePluginSpecSchema.optional(),
    imageRepoSecret: localObjectReferenceSchema
      .meta({ description: "Pull secret for the module loader and device plugin images, and push secret for builds." })
      .optional(),
    selector: nodeSelectorSchema("Labels of the nodes the module is loaded on."),
    tolerations: tolerationsSchema
      .meta({ description: "Tolerations of the module loader and device plugin pods." })
      .optional(),
    imageRebuildTriggerGeneration: z
      .int()
      .meta({ description: "Change this counter to re-check, and rebuild if needed, every image of the Module." })
      .optional(),
  })
  .meta({ description: "How and where a kernel module is deployed." });
export type ModuleSpec = z.infer<typeof moduleSpecSchema>;

export const daemonSetStatusSchema = z.object({
  nodesMatchingSelectorNumber: int32()
    .meta({ description: "Nodes matching the Module's selector." })
    .optional(),
  desiredNumber: int32().meta({ description: "Pods that should run." }).optional(),
  availableNumber: int32().meta({ description: "Pods running and available." }).optional(),
});
export type DaemonSetStatus = z.infer<typeof daemonSetStatusSchema>;

export const moduleStatusSchema = z
  .object({
    moduleLoader: daemonSetStatusSchema.optional(),
    devicePlugin: daemonSetStatusSchema.optional(),
    imageRebuildTriggerGeneration: z
      .int()
      .meta({ description: "Last spec.imageRebuildTriggerGeneration acted upon." })
      .optional(),
    conditions: conditionsSchema.optional(),
  })
  .meta({ description: "Observed state of the Module." });
export type ModuleStatus = z.infer<typeof moduleStatusSchema>;

export function nameLengthMessage(what: string): string {
  return `${what} must together be at most ${MAX_NAME_AND_NAMESPACE_LENGTH} characters, because node labels are built from them: choose a shorter name`;
}
export const MODULE_NAME_LENGTH_MESSAGE = nameLengthMessage("metadata.name and metadata.namespace of a Module");

export const moduleSchema = z
  .object({
    apiVersion: z.literal(MODULE_API_VERSION),
    kind: z.literal(MODULE_KIND),
    metadata: objectMetaSchema,
    spec: moduleSpecSchema,
    status: moduleStatusSchema.optional(),
  })
  .meta({ description: "A kernel module to load on the nodes that need it, with the image to use for each kernel." })
  // The CRD cannot see metadata.namespace from CEL; the API server enforces this through the
  // ValidatingAdmissionPolicy generated beside the CRD.
  .refine(
    (m) => (m.metadata.name ?? "").length + (m.metadata.namespace ?? "").length <= MAX_NAME_AND_NAMESPACE_LENGTH,
    { message: MODULE_NAME_LENGTH_MESSAGE, path: ["metadata", "name"] },
  );
export type Module = z.infer<typeof moduleSchema>;
