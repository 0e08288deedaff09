// sorted-btree ships CommonJS with its class on `default`; Node's ESM loader hands us module.exports
// while bundler-style loaders (vitest) hand us the class itself. This is the one place that knows.
import sortedBtree from 'sorted-btree';

type BTreeClass = typeof sortedBtree.default;
const loaded = sortedBtree as unknown as BTreeClass | { default: BTreeClass };
export const BTree: BTreeClass = typeof loaded === 'function' ? loaded : loaded.default;
export type SortedMap<K, V> = InstanceType<typeof sortedBtree.default<K, V>>;
