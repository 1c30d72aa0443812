// Virtual shards: which shard a user lives in, and the hash tag that pins a shard to one cluster slot.

/** Number of hash slots of a Redis Cluster (and of Dragonfly in cluster mode). */
export const SLOT_COUNT = 16384;

/** 32-bit FNV-1a over the UTF-8 bytes: stable across processes, versions and stores. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** The shard of a user: fixed for the life of a cluster because SHARDS is. */
export function shardOf(userId: string, shards: number): number {
  return fnv1a(userId) % shards;
}

/** CRC16/XMODEM, the function Redis Cluster uses for key slots. */
export function crc16(text: string): number {
  let crc = 0;
  for (const byte of new TextEncoder().encode(text)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The slot of a key as `CLUSTER KEYSLOT` computes it, hash tags included. */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return crc16(key.slice(open + 1, close)) % SLOT_COUNT;
  }
  return crc16(key) % SLOT_COUNT;
}

/** The slot in the middle of the k-th of `shards` equal slot ranges. */
export function targetSlot(shard: number, shards: number): number {
  return Math.floor(((shard + 0.5) * SLOT_COUNT) / shards);
}

const tagCache = new Map<number, readonly string[]>();

/**
 * The hash tag text of every shard (`s<k>-<suffix>`), chosen by searching suffixes until the tag's
 * slot is the closest found to the middle of the shard's slot range: with M masters owning equal
 * contiguous ranges, each then owns SHARDS / M shards. Deterministic, so every process agrees.
 */
export function shardTags(shards: number): readonly string[] {
  const cached = tagCache.get(shards);
  if (cached) return cached;
  const tolerance = Math.max(1, Math.floor(SLOT_COUNT / shards / 32));
  const tags = Array.from({ length: shards }, (_, shard) => {
    const target = targetSlot(shard, shards);
    let best = { tag: '', distance: Number.POSITIVE_INFINITY };
    for (let n = 0; n < 200_000 && best.distance > tolerance; n++) {
      const tag = `s${shard}-${n.toString(36)}`;
      const distance = Math.abs(keySlot(`{${tag}}`) - target);
      if (distance < best.distance) best = { tag, distance };
    }
    return best.tag;
  });
  tagCache.set(shards, tags);
  return tags;
}
