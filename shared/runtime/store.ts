// An informer's objects by "namespace/name", with an index by namespace: a hub asks for the
// ManifestWorks of one cluster namespace on every cluster event, and scanning 10,000 works per
// event would make a fleet-wide claim change quadratic.

/** Objects by key `namespace/name` (cluster-scoped objects: `/name`). */
export class ObjectStore<T> {
  private readonly byKey = new Map<string, T>();
  private readonly byNamespace = new Map<string, Map<string, T>>();

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): T | undefined {
    return this.byKey.get(key);
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  set(key: string, obj: T): void {
    this.byKey.set(key, obj);
    const ns = namespaceOf(key);
    let objects = this.byNamespace.get(ns);
    if (objects === undefined) {
      objects = new Map();
      this.byNamespace.set(ns, objects);
    }
    objects.set(key, obj);
  }

  delete(key: string): boolean {
    if (!this.byKey.delete(key)) return false;
    const ns = namespaceOf(key);
    const objects = this.byNamespace.get(ns);
    objects?.delete(key);
    if (objects?.size === 0) this.byNamespace.delete(ns);
    return true;
  }

  values(): IterableIterator<T> {
    return this.byKey.values();
  }

  entries(): IterableIterator<[string, T]> {
    return this.byKey.entries();
  }

  [Symbol.iterator](): IterableIterator<[string, T]> {
    return this.byKey.entries();
  }

  /** The objects of one namespace ("" for cluster-scoped ones), without looking at the others. */
  inNamespace(namespace: string): T[] {
    return [...(this.byNamespace.get(namespace)?.values() ?? [])];
  }
}

function namespaceOf(key: string): string {
  const slash = key.indexOf("/");
  return slash < 0 ? "" : key.slice(0, slash);
}
