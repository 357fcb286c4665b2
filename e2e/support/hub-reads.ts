// Reads of what the hub wrote, shared by the e2e suites that check builds and pinning.
import { z } from "zod";
import { ApiError, type RawClient } from "../../shared/kube/raw.ts";

const workSchema = z.looseObject({
  spec: z.looseObject({ workload: z.looseObject({ manifests: z.array(z.looseObject({ spec: z.looseObject({ moduleLoader: z.looseObject({ container: z.looseObject({ kernelMappings: z.array(z.looseObject({ containerImage: z.string() })) }) }) }) })) }) }),
});

/**
 * The container image of the first kernel mapping of the Module in the ManifestWork `<cluster>/<mcm>`
 * on the hub; undefined when that ManifestWork does not exist. Throws ApiError for other refusals and
 * ZodError when the work holds no Module of that shape.
 */
export async function workImage(hubRaw: RawClient, cluster: string, mcm: string): Promise<string | undefined> {
  try {
    const w = workSchema.parse((await hubRaw.request("GET", `/apis/work.open-cluster-management.io/v1/namespaces/${cluster}/manifestworks/${mcm}`)).body);
    return w.spec.workload.manifests[0]?.spec.moduleLoader.container.kernelMappings[0]?.containerImage;
  } catch (err) {
    if (err instanceof ApiError && err.code === 404) return undefined;
    throw err;
  }
}
