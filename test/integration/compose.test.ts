// compose.yaml, read as Compose would read it: services per profile, dependencies, healthchecks, and the
// app's environment checked against the real config schema. `docker compose config` too, where present.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configSchema, loadConfig } from '../../shared/config.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const read = (file: string) => readFileSync(`${root}/${file}`, 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  profiles?: string[];
  restart?: string;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string; required?: boolean }>;
  healthcheck?: { test: string[] };
  deploy?: { replicas?: string | number };
  volumes?: string[];
  ports?: string[];
}
// Compose resolves YAML merge keys (`<<: *app`), so the test does too.
const compose = parse(read('compose.yaml'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const named = (name: string) => {
  const service = services[name];
  if (!service) throw new Error(`compose.yaml has no service ${name}`);
  return service;
};
const inProfile = (profile: string) =>
  Object.keys(services).filter((name) => named(name).profiles?.includes(profile));

/** Compose's interpolation of `${VAR}`, `${VAR:-default}`, `${VAR:?error}` and `$$`, for one value. */
function interpolate(value: string, env: Record<string, string | undefined>): string {
  return value.replace(/\$\$|\$\{(\w+)(?::([-?])([^}]*))?\}/g, (match, name, op, arg) => {
    if (match === '$$') return '$';
    const set = env[name] !== undefined && env[name] !== '';
    if (op === '?' && !set) throw new Error(`${name}: ${arg}`);
    return set ? env[name]! : op === '-' ? arg : '';
  });
}
const environmentOf = (name: string, env: Record<string, string | undefined>) =>
  Object.fromEntries(Object.entries(named(name).environment ?? {}).map(([k, v]) => [k, interpolate(v, env)]));

const ADMIN_TOKEN = 'compose-test-token';
/** The STORE_* values docs/DEPLOYING.md gives for each profile, read from its commands. */
function documentedStore(profile: string): Record<string, string> {
  const guide = read('docs/DEPLOYING.md');
  const command = guide.split('\n\n').find((block) => block.includes(`--profile ${profile} up`));
  if (!command) throw new Error(`docs/DEPLOYING.md shows no \`--profile ${profile} up\` command`);
  return Object.fromEntries([...command.matchAll(/\b(STORE_\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
}

describe('compose.yaml', () => {
  it('runs the app and one Dragonfly node without a profile, and the other stores behind theirs', () => {
    const always = Object.keys(services).filter((name) => !named(name).profiles);
    expect(always.sort()).toEqual(['api', 'dragonfly', 'workers']);
    expect(inProfile('dragonfly-cluster').sort()).toEqual([
      'cluster-config',
      'dragonfly-1',
      'dragonfly-2',
      'dragonfly-3',
    ]);
    expect(inProfile('redis').sort()).toEqual([
      'redis-1',
      'redis-2',
      'redis-3',
      'redis-4',
      'redis-5',
      'redis-6',
      'redis-cluster-init',
    ]);
    expect(inProfile('observability').sort()).toEqual(['grafana', 'prometheus']);
  });

  it('makes every dependency on a service of another profile optional (else the project is invalid)', () => {
    const conditions = ['service_started', 'service_healthy', 'service_completed_successfully'];
    const crossProfile: string[] = [];
    for (const [name, service] of Object.entries(services)) {
      for (const [target, dependency] of Object.entries(service.depends_on ?? {})) {
        expect(services[target], `${name} depends on ${target}`).toBeDefined();
        expect(conditions).toContain(dependency.condition);
        const reachable =
          !named(target).profiles || named(target).profiles!.some((p) => service.profiles?.includes(p));
        if (reachable) continue;
        crossProfile.push(`${name} -> ${target}`);
        expect(dependency.required, `${name} -> ${target}`).toBe(false);
      }
    }
    // The app's dependencies on the optional stores' set-up services are such dependencies: the
    // check above must have met them, or it checked nothing.
    expect(crossProfile).toEqual(
      expect.arrayContaining([
        'api -> cluster-config',
        'api -> redis-cluster-init',
        'workers -> cluster-config',
        'workers -> redis-cluster-init',
      ]),
    );
  });

  it('waits for a healthy store in every profile before the app starts', () => {
    for (const name of ['api', 'workers']) {
      expect(named(name).depends_on).toEqual({
        dragonfly: { condition: 'service_healthy' },
        'cluster-config': { condition: 'service_healthy', required: false },
        'redis-cluster-init': { condition: 'service_completed_successfully', required: false },
      });
    }
    for (const node of ['dragonfly-1', 'dragonfly-2', 'dragonfly-3']) {
      expect(named('cluster-config').depends_on?.[node]?.condition).toBe('service_healthy');
    }
    for (const node of inProfile('redis').filter((n) => n !== 'redis-cluster-init')) {
      expect(named('redis-cluster-init').depends_on?.[node]?.condition).toBe('service_healthy');
    }
  });

  it('gives every long-running service a restart policy and a healthcheck Compose accepts', () => {
    for (const [name, service] of Object.entries(services)) {
      if (name === 'redis-cluster-init') {
        expect(service.restart).toBe('no');
        continue;
      }
      expect(service.restart, name).toBe('always');
      expect(['CMD', 'CMD-SHELL']).toContain(service.healthcheck?.test[0]);
    }
  });

  it('probes /ready of the API on PORT and of each worker node on NODE_PORT', () => {
    const api = environmentOf('api', { ADMIN_TOKEN });
    const workers = environmentOf('workers', {});
    expect(named('api').healthcheck?.test.join(' ')).toContain(`http://127.0.0.1:${api.PORT}/ready`);
    expect(workers.NODE_PORT).toBe('9100');
    expect(named('workers').healthcheck?.test.join(' ')).toContain('http://127.0.0.1:9100/ready');
    expect(api.HOST).toBe('0.0.0.0');
  });

  it('runs two worker nodes unless WORKERS says otherwise', () => {
    const replicas = String(named('workers').deploy?.replicas);
    expect(interpolate(replicas, {})).toBe('2');
    expect(interpolate(replicas, { WORKERS: '5' })).toBe('5');
  });

  it('passes the app only variables of the config schema, and refuses to start without ADMIN_TOKEN', () => {
    const known = Object.keys(configSchema.shape);
    for (const name of ['api', 'workers', 'cluster-config']) {
      for (const variable of Object.keys(named(name).environment ?? {})) expect(known).toContain(variable);
    }
    expect(() => environmentOf('api', {})).toThrow(/ADMIN_TOKEN/);
  });

  describe('the store each profile gives the app', () => {
    const cases = [
      ['default', {}, 'dragonfly-emulated', ['dragonfly'], 0],
      [
        'dragonfly-cluster',
        documentedStore('dragonfly-cluster'),
        'cluster',
        inProfile('dragonfly-cluster'),
        0,
      ],
      ['redis', documentedStore('redis'), 'cluster', inProfile('redis'), 1],
    ] as const;
    for (const [profile, store, mode, profileServices, waitReplicas] of cases) {
      it(`${profile}: a valid config whose seeds are that profile's store nodes`, () => {
        for (const name of ['api', 'workers']) {
          const config = loadConfig(environmentOf(name, { ...store, ADMIN_TOKEN }));
          expect(config.REDIS_MODE).toBe(mode);
          expect(config.WAIT_REPLICAS).toBe(waitReplicas);
          expect(config.REDIS_NODES.length).toBeGreaterThan(0);
          for (const seed of config.REDIS_NODES) {
            expect(profileServices).toContain(seed.host);
            expect(seed.port).toBe(6379);
          }
        }
      });
    }
  });

  describe('the Dragonfly services', () => {
    const flags = (name: string) => named(name).command ?? [];

    it('pin one Dragonfly image and keep snapshots on a volume', () => {
      const dragonflies = [
        'dragonfly',
        ...inProfile('dragonfly-cluster').filter((n) => n !== 'cluster-config'),
      ];
      for (const name of dragonflies) {
        expect(named(name).image).toMatch(/^docker\.dragonflydb\.io\/dragonflydb\/dragonfly:v\d+\.\d+\.\d+$/);
        expect(flags(name)).toEqual(expect.arrayContaining(['--lock_on_hashtags', '--dir=/data']));
        expect(flags(name).some((f) => f.startsWith('--snapshot_cron='))).toBe(true);
        expect(named(name).volumes?.some((v) => v.endsWith(':/data'))).toBe(true);
      }
      expect(new Set(dragonflies.map((n) => named(n).image)).size).toBe(1);
      expect(flags('dragonfly')).toContain('--cluster_mode=emulated');
      // Dragonfly exits at start when --cluster_node_id is given in emulated mode.
      expect(flags('dragonfly').some((f) => f.startsWith('--cluster_node_id'))).toBe(false);
    });

    it('configure exactly the cluster nodes, by their fixed ids, on their admin ports', () => {
      const command = flags('cluster-config');
      expect(command.slice(0, 3)).toEqual([
        'node',
        '--enable-source-maps',
        'dist/scripts/dragonfly-configurator.js',
      ]);
      const specs = command.flatMap((arg, i) => (command[i - 1] === '--node' ? [arg] : []));
      const nodes = ['dragonfly-1', 'dragonfly-2', 'dragonfly-3'];
      expect(specs).toHaveLength(nodes.length);
      specs.forEach((spec, i) => {
        const node = nodes[i]!;
        const [, id, host, , admin] = /^(.+)@(.+):(\d+)\/(\d+)$/.exec(spec)!;
        expect(host).toBe(node);
        expect(flags(node)).toEqual(
          expect.arrayContaining(['--cluster_mode=yes', `--cluster_node_id=${id}`, `--admin_port=${admin}`]),
        );
      });
      expect(new Set(specs.map((s) => s.split('@')[0])).size).toBe(nodes.length);
      expect(command).toEqual(expect.arrayContaining(['--health-file', '/tmp/dragonfly-configured']));
      expect(named('cluster-config').healthcheck?.test.join(' ')).toContain('/tmp/dragonfly-configured');
    });
  });

  it('creates the Redis Cluster with one replica per master', () => {
    const script = named('redis-cluster-init').command?.join('\n') ?? '';
    expect(script).toContain('redis-cli --cluster create');
    expect(script).toContain('--cluster-replicas 1');
    for (const node of inProfile('redis').filter((n) => n !== 'redis-cluster-init')) {
      expect(named(node).command).toEqual(expect.arrayContaining(['--cluster-enabled', '--appendonly']));
    }
  });

  describe('the observability profile', () => {
    /** The container path a `./host/path:/container/path[:ro]` volume of `service` mounts `host` at. */
    const mountOf = (service: string, host: string) => {
      const volume = named(service).volumes?.find((v) => v.split(':')[0] === host);
      if (!volume) throw new Error(`${service} does not mount ${host}`);
      return volume.split(':')[1]!;
    };

    it('runs Prometheus on the shipped config and rules, scraping the api service on its port', () => {
      const prometheus = named('prometheus');
      const configDir = mountOf('prometheus', './dashboards/prometheus');
      expect(prometheus.volumes).toContain(`./dashboards/prometheus:${configDir}:ro`);
      expect(prometheus.command).toContain(`--config.file=${configDir}/prometheus.yml`);
      const config = parse(read('dashboards/prometheus/prometheus.yml')) as {
        rule_files: string[];
        scrape_configs: Array<{
          static_configs?: { targets: string[] }[];
          dns_sd_configs?: { names: string[]; port: number }[];
        }>;
      };
      for (const file of config.rule_files) {
        expect(file.startsWith(`${configDir}/`), file).toBe(true);
        expect(() => read(`dashboards/prometheus/${file.slice(configDir.length + 1)}`)).not.toThrow();
      }
      const apiPort = environmentOf('api', { ADMIN_TOKEN }).PORT;
      const targets = config.scrape_configs.flatMap((job) => [
        ...(job.static_configs ?? []).flatMap((c) => c.targets),
        ...(job.dns_sd_configs ?? []).flatMap((c) => c.names.map((n) => `${n}:${c.port}`)),
      ]);
      expect(targets.length).toBeGreaterThan(0);
      for (const target of targets) expect(target).toBe(`api:${apiPort}`);
    });

    it('provisions Grafana with that Prometheus and the dashboard, once Prometheus is healthy', () => {
      const grafana = named('grafana');
      expect(mountOf('grafana', './dashboards/grafana/provisioning')).toBe('/etc/grafana/provisioning');
      const dashboard = mountOf('grafana', './dashboards/grafana/orderflow.json');
      expect(grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH).toBe(dashboard);
      expect(grafana.depends_on).toEqual({ prometheus: { condition: 'service_healthy' } });
      const { datasources } = parse(read('dashboards/grafana/provisioning/datasources/prometheus.yml')) as {
        datasources: Array<{ url: string }>;
      };
      const prometheusPort = named('prometheus').ports?.[0]?.split(':').at(-1);
      expect(datasources.map((d) => d.url)).toEqual([`http://prometheus:${prometheusPort}`]);
    });

    it('pins both images and publishes their ports on loopback only', () => {
      expect(named('prometheus').image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
      expect(named('grafana').image).toMatch(/^grafana\/grafana-oss:\d+\.\d+\.\d+$/);
      for (const name of ['prometheus', 'grafana']) {
        for (const port of named(name).ports ?? []) expect(port.startsWith('127.0.0.1:'), port).toBe(true);
        expect(named(name).ports).toHaveLength(1);
      }
      expect(interpolate(named('prometheus').ports![0]!, {})).toBe('127.0.0.1:9090:9090');
      expect(interpolate(named('grafana').ports![0]!, {})).toBe('127.0.0.1:3001:3000');
    });
  });

  it('starts the API with the command the image runs by default', () => {
    const cmd = /^CMD (\[.*\])$/m.exec(read('Dockerfile'))?.[1];
    expect(named('api').command).toEqual(JSON.parse(cmd ?? 'null'));
  });

  // Needs only the client and its compose plugin: `config` parses and validates, it starts nothing.
  const composePlugin = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' }).status === 0;
  describe.skipIf(!composePlugin)('docker compose config', () => {
    const run = (args: string[], env: Record<string, string>) =>
      spawnSync('docker', ['compose', ...args, 'config', '--quiet'], {
        cwd: root,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
        encoding: 'utf8',
      });

    for (const profile of ['', 'dragonfly-cluster', 'redis', 'observability']) {
      it(`accepts the ${profile || 'default'} project`, () => {
        const args = profile ? ['--profile', profile] : [];
        const store = profile && profile !== 'observability' ? documentedStore(profile) : {};
        const result = run(args, { ...store, ADMIN_TOKEN });
        expect(result.stderr).toBe('');
        expect(result.status).toBe(0);
      });
    }

    it('refuses the project without ADMIN_TOKEN', () => {
      const result = run([], {});
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain('ADMIN_TOKEN');
    });

    it('resolves two worker replicas', () => {
      const json = execFileSync('docker', ['compose', 'config', '--format', 'json'], {
        cwd: root,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ADMIN_TOKEN },
        encoding: 'utf8',
      });
      expect(JSON.parse(json).services.workers.deploy.replicas).toBe(2);
    });
  });
});
