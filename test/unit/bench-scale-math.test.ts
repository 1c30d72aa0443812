// The scale scenario's arithmetic: per-node deltas, the fitted CLIENT LIST price, the walls, and the census.
import { describe, expect, it } from 'vitest';
import { countClients, kindOf } from '../../stress/harness/client-census.js';
import {
  busiestMasterCpuPerNode,
  connectionsPerMasterPerNode,
  firstNodesWhere,
  fitLine,
  loadAt,
  perNode,
  type ScaleInputs,
  walls,
} from '../../stress/harness/scale-math.js';

const inputs: ScaleInputs = {
  masters: 3,
  shards: 12,
  sharedPerMaster: 1,
  mastersPerWorker: 1,
  perReplicaPerNode: 4,
  maxClients: 10_000,
  cpuPerNodeBusiestMaster: 0.002,
  clientListUs: { intercept: 10, slope: 2 },
  livenessMs: 500,
};

describe('perNode', () => {
  it('divides what the nodes added by their number', () => {
    expect(perNode(15, 55, 4)).toBe(10);
    expect(perNode(15, 55, 0)).toBeNull();
  });
});

describe('fitLine', () => {
  it('finds the line through points that lie on one', () => {
    expect(
      fitLine([
        [10, 30],
        [20, 50],
        [40, 90],
      ]),
    ).toEqual({ intercept: 10, slope: 2 });
  });
  it('needs two distinct x', () => {
    expect(
      fitLine([
        [5, 1],
        [5, 2],
      ]),
    ).toBeNull();
  });
});

describe('connectionsPerMasterPerNode', () => {
  it('spreads the blocking clients over the masters when each touches only its own', () => {
    expect(connectionsPerMasterPerNode(inputs)).toBe(5);
    expect(connectionsPerMasterPerNode({ ...inputs, masters: 12 })).toBe(2);
  });
  it('counts a Worker that holds two masters twice, and never on more masters than there are', () => {
    expect(connectionsPerMasterPerNode({ ...inputs, mastersPerWorker: 2.1 })).toBeCloseTo(9.4, 9);
    expect(connectionsPerMasterPerNode({ ...inputs, masters: 1, mastersPerWorker: 2.1 })).toBe(13);
  });
});

describe('loadAt', () => {
  it('lists every master once per beat from every other node while one is late', () => {
    const at = loadAt(100, inputs);
    expect(at.connectionsPerMaster).toBe(500);
    expect(at.clientListUs).toBe(1010);
    // 99 nodes × 1010 µs × 2 beats a second = 0.19998 s of a master's second.
    expect(at.lateNodeListingCpu).toBeCloseTo(0.19998, 6);
    expect(at.busiestMasterCpu).toBeCloseTo(0.2, 9);
  });
});

describe('firstNodesWhere', () => {
  it('finds the first count past a threshold, or none within the limit', () => {
    expect(firstNodesWhere((n) => n * 5 >= 10_000)).toBe(2000);
    expect(firstNodesWhere((n) => n >= 1)).toBe(1);
    expect(firstNodesWhere(() => false)).toBeNull();
  });
});

describe('walls', () => {
  it('finds the replicas full first when each node holds more connections there', () => {
    expect(walls({ ...inputs, perReplicaPerNode: 13 }).maxclients).toBe(770);
  });
  it('places each wall where its limit is first reached', () => {
    const w = walls(inputs);
    expect(w.maxclients).toBe(2000);
    expect(w.busiestMasterCpu).toBe(500);
    // (n − 1) × (10 + 10 n) × 2 ≥ 1e6 first holds at n = 224 (223: 994,560 µs).
    expect(w.lateNodeListing).toBe(224);
  });
});

describe('the client census', () => {
  it('tells a node, its Workers, the API and the rest apart by connection name', () => {
    expect(kindOf('orderflow-worker-node-1@ab12')).toBe('node');
    expect(kindOf('bxyz:{s3-9}:c3RlcHMtczAz:w:node-1')).toBe('blocking');
    expect(kindOf('orderflow-api')).toBe('api');
    expect(kindOf('')).toBe('other');
  });
  it('counts CLIENT LIST lines by kind and those in a blocking call', () => {
    const list = [
      'id=3 addr=127.0.0.1:5 name=orderflow-worker-n@1 flags=N cmd=evalsha',
      'id=4 addr=127.0.0.1:6 name=b:{s0-u}:cQ==:w:n flags=b cmd=bzpopmin',
      'id=5 addr=127.0.0.1:7 name= flags=S cmd=replconf',
      '',
    ].join('\n');
    expect(countClients(list)).toEqual({
      byKind: { node: 1, blocking: 1, api: 0, other: 1 },
      total: 3,
      blocked: 1,
      lastCommands: { 'node evalsha': 1, 'blocking bzpopmin': 1 },
    });
  });
});

describe('busiestMasterCpuPerNode', () => {
  it('keeps the registry part on one master and spreads the rest', () => {
    expect(busiestMasterCpuPerNode(8.4, 0.4, 4)).toBeCloseTo(2.4, 9);
    expect(busiestMasterCpuPerNode(8.4, 0.4, 1)).toBeCloseTo(8.4, 9);
  });
});
