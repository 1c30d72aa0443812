// Sharding: the store-independent user hash, Redis' key-slot function and the evenly spread shard tags.
import { describe, expect, it } from 'vitest';
import { crc16, fnv1a, keySlot, SLOT_COUNT, shardOf, shardTags, targetSlot } from '../../shared/sharding.js';

/** A deterministic stream of pseudo-random 32-bit numbers (mulberry32). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const slotOfTag = (tag: string) => crc16(tag) % SLOT_COUNT;

describe('fnv1a', () => {
  it.each([
    ['', 0x811c9dc5],
    ['a', 0xe40c292c],
    ['foobar', 0xbf9cf968],
  ])('hashes %j to the published FNV-1a 32-bit value', (text, expected) => {
    expect(fnv1a(text)).toBe(expected);
  });

  it('hashes the UTF-8 bytes of non-ASCII text', () => {
    // "é" is the two bytes C3 A9: hash by hand from the offset basis.
    let expected = 0x811c9dc5;
    for (const byte of [0xc3, 0xa9]) expected = Math.imul(expected ^ byte, 0x01000193) >>> 0;
    expect(fnv1a('é')).toBe(expected);
  });
});

describe('crc16 and keySlot', () => {
  it('gives the CRC16/XMODEM check value for "123456789"', () => {
    expect(crc16('123456789')).toBe(0x31c3);
    expect(keySlot('123456789')).toBe(0x31c3 % SLOT_COUNT);
  });

  it('gives the slot Redis documents for "foo"', () => {
    expect(keySlot('foo')).toBe(12182);
  });

  it('hashes only the hash tag when the key has one', () => {
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
    expect(keySlot('{user1000}.following')).toBe(keySlot('user1000'));
    expect(keySlot('x{foo}y')).toBe(keySlot('foo'));
  });

  it('uses the first tag only', () => {
    expect(keySlot('{foo}{bar}')).toBe(keySlot('foo'));
    expect(keySlot('foo{{bar}}zap')).toBe(keySlot('{bar'));
  });

  it('hashes the whole key when the tag is empty or unclosed', () => {
    expect(keySlot('{}foo')).toBe(crc16('{}foo') % SLOT_COUNT);
    expect(keySlot('{}foo')).not.toBe(keySlot('foo'));
    expect(keySlot('foo{}{bar}')).toBe(crc16('foo{}{bar}') % SLOT_COUNT);
    expect(keySlot('foo{bar')).toBe(crc16('foo{bar') % SLOT_COUNT);
  });

  it('stays inside the slot space', () => {
    const next = seededRandom(7);
    for (let i = 0; i < 2000; i++) {
      const slot = keySlot(`key-${next()}`);
      expect(slot).toBeGreaterThanOrEqual(0);
      expect(slot).toBeLessThan(SLOT_COUNT);
    }
  });
});

describe('shardOf', () => {
  it('gives a user the same shard on every call', () => {
    expect(shardOf('user-42', 12)).toBe(shardOf('user-42', 12));
    expect(shardOf('user-42', 12)).toBe(fnv1a('user-42') % 12);
  });

  describe('when 10,000 seeded user ids are spread over 12 shards', () => {
    const next = seededRandom(2024);
    const counts = new Array<number>(12).fill(0);
    for (let i = 0; i < 10_000; i++) {
      const shard = shardOf(`user-${next().toString(36)}-${i}`, 12);
      counts[shard] = (counts[shard] ?? 0) + 1;
    }

    it('puts every user in a shard in range', () => {
      expect(counts).toHaveLength(12);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(10_000);
    });

    it('fills each shard within 20% of an even share', () => {
      const even = 10_000 / 12;
      for (const count of counts) {
        expect(count).toBeGreaterThanOrEqual(even * 0.8);
        expect(count).toBeLessThanOrEqual(even * 1.2);
      }
    });
  });

  it('spreads sequential ids as evenly as random ones', () => {
    const counts = new Array<number>(12).fill(0);
    for (let i = 0; i < 10_000; i++) {
      const shard = shardOf(`user-${i}`, 12);
      counts[shard] = (counts[shard] ?? 0) + 1;
    }
    for (const count of counts) expect(Math.abs(count - 10_000 / 12)).toBeLessThanOrEqual(10_000 / 12 / 5);
  });
});

describe('targetSlot', () => {
  it('is the middle of the k-th equal slot range', () => {
    expect(targetSlot(0, 12)).toBe(682);
    expect(targetSlot(11, 12)).toBe(15701);
    expect(targetSlot(0, 1)).toBe(8192);
  });
});

describe('shardTags', () => {
  describe('with 12 shards', () => {
    const tags = shardTags(12);
    const slots = tags.map(slotOfTag);
    const tolerance = SLOT_COUNT / 12 / 32;

    it('gives one distinct tag per shard, free of brace characters', () => {
      expect(tags).toHaveLength(12);
      expect(new Set(tags).size).toBe(12);
      for (const tag of tags) expect(tag).toMatch(/^s\d+-[0-9a-z]+$/);
    });

    it('puts each tag within 1/32 of a range width of its target slot', () => {
      slots.forEach((slot, shard) => {
        expect(Math.abs(slot - targetSlot(shard, 12))).toBeLessThanOrEqual(tolerance);
      });
    });

    it('gives each of 3 equal masters exactly 4 shards', () => {
      const masters = [
        [0, 5460],
        [5461, 10922],
        [10923, 16383],
      ] as const;
      const owned = masters.map(([low, high]) => slots.filter((s) => s >= low && s <= high).length);
      expect(owned).toEqual([4, 4, 4]);
    });

    it('gives each of 4 and of 6 equal masters the same number of shards', () => {
      for (const masters of [4, 6]) {
        const owned = new Array<number>(masters).fill(0);
        for (const slot of slots) {
          const master = Math.floor((slot * masters) / SLOT_COUNT);
          owned[master] = (owned[master] ?? 0) + 1;
        }
        expect(owned).toEqual(new Array<number>(masters).fill(12 / masters));
      }
    });
  });

  it.each([8, 16])('spaces the %i shard slots evenly', (shards) => {
    const slots = shardTags(shards).map(slotOfTag);
    const width = SLOT_COUNT / shards;
    slots.forEach((slot, shard) => {
      expect(Math.abs(slot - targetSlot(shard, shards))).toBeLessThanOrEqual(width / 32);
      expect(Math.floor(slot / width)).toBe(shard);
    });
    for (let k = 1; k < slots.length; k++) {
      const gap = slots[k]! - slots[k - 1]!;
      expect(Math.abs(gap - width)).toBeLessThanOrEqual((2 * width) / 32);
    }
  });

  it('gives a single shard a tag of its own', () => {
    expect(shardTags(1)).toHaveLength(1);
    expect(Math.abs(slotOfTag(shardTags(1)[0]!) - targetSlot(0, 1))).toBeLessThanOrEqual(SLOT_COUNT / 32);
  });

  it('chooses the same tags on every call', () => {
    const first = [...shardTags(16)];
    expect([...shardTags(16)]).toEqual(first);
  });

  it('keeps the tags of 12 shards that existing clusters store their keys under', () => {
    // Every process must derive these same names; a change to the search moves every key of a live cluster.
    expect(shardTags(12)).toEqual([
      's0-u',
      's1-1c',
      's2-79',
      's3-9',
      's4-65',
      's5-1b',
      's6-a',
      's7-7t',
      's8-7y',
      's9-eu',
      's10-2v',
      's11-2',
    ]);
  });
});
