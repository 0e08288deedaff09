// @peculiar/x509 2.x loads tsyringe, which throws at import unless a Reflect metadata API exists.
// The project does not depend on a polyfill package, so this provides the three functions tsyringe
// calls, and nothing when a real polyfill (reflect-metadata, core-js) is already installed.
// Import it only through ./x509.ts, which guarantees it runs before the library loads.

type Target = object;
type MetadataReflect = typeof Reflect & {
  getMetadata?: (key: unknown, target: Target) => unknown;
  getOwnMetadata?: (key: unknown, target: Target) => unknown;
  defineMetadata?: (key: unknown, value: unknown, target: Target) => void;
};

const reflect = Reflect as MetadataReflect;

if (typeof reflect.getMetadata !== 'function') {
  const store = new WeakMap<Target, Map<unknown, unknown>>();
  const getOwn = (key: unknown, target: Target): unknown => store.get(target)?.get(key);
  reflect.getOwnMetadata = getOwn;
  reflect.defineMetadata = (key, value, target) => {
    let entries = store.get(target);
    if (!entries) {
      entries = new Map();
      store.set(target, entries);
    }
    entries.set(key, value);
  };
  // Metadata is inherited along the prototype chain, as in the reflect-metadata proposal.
  reflect.getMetadata = (key, target) => {
    for (let t: Target | null = target; t; t = Object.getPrototypeOf(t)) {
      const entries = store.get(t);
      if (entries?.has(key)) return entries.get(key);
    }
    return undefined;
  };
}
