// How the fair raw baseline shares one process's slots among its shard Workers (BullMQ's concurrency is per Worker).

/**
 * `total` slots split over `parts` Workers as evenly as whole numbers allow: the first `total mod parts`
 * get one more, so the sum is exactly `total` (50 over 12: two Workers of 5, ten of 4). Every Worker
 * gets at least 1, since BullMQ refuses 0: with fewer slots than Workers the sum is `parts`.
 */
export function splitConcurrency(total: number, parts: number): number[] {
  if (!Number.isInteger(total) || total < 1) throw new RangeError(`total ${total}: a positive integer`);
  if (!Number.isInteger(parts) || parts < 1) throw new RangeError(`parts ${parts}: a positive integer`);
  const each = Math.floor(total / parts);
  const extra = total % parts;
  return Array.from({ length: parts }, (_, i) => Math.max(1, each + (i < extra ? 1 : 0)));
}
