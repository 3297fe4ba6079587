/** Counters kept in a Map per key (connections per client, flows per app), a key gone at zero so the map holds only what is in use. */
export function decrementCount<K>(counts: Map<K, number>, key: K): void {
  const n = (counts.get(key) ?? 1) - 1;
  if (n === 0) counts.delete(key);
  else counts.set(key, n);
}
