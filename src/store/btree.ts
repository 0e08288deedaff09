// sorted-btree ships CommonJS with its class on `default`; this is the one place that knows.
import sortedBtree from 'sorted-btree';

export const BTree = sortedBtree.default;
export type SortedMap<K, V> = InstanceType<typeof sortedBtree.default<K, V>>;
