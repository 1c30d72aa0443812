// The image, without Docker: the Dockerfile's stages replayed in a temp dir. The build stage is the
// production install on a clean copy (`npm ci`, `npm run build`, `npm prune --omit=dev`); the runtime stage
// takes its dist/ and pruned node_modules, and the built API and worker, started with the image's and
// compose.yaml's commands against the test cluster, carry an order to completion.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../shared/config.js';
import { createStore } from '../../shared/store.js';
import { redisNodes } from '../support/cluster.js';
import { uniqueNamespace } from '../support/processes.js';
import { deleteNamespace } from '../support/system.js';
import { onFreePort, waitForOwnProbe } from '../support/worker-probe.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
const compose = parse(readFileSync(path.join(root, 'compose.yaml'), 'utf8'), { merge: true }) as {
  services: Record<string, { command: string[] }>;
};

/** The Dockerfile's stages: instructions with continuation lines joined, heredoc bodies kept apart. */
function readStages(text: string) {
  const stages: Array<{ name: string; steps: Array<{ op: string; args: string; heredoc?: string }> }> = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.endsWith('\\')) line = `${line.slice(0, -1)} ${lines[++i]!.trim()}`;
    const [, op = '', args = ''] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
    if (op === 'FROM') stages.push({ name: / AS (\w+)/i.exec(args)?.[1] ?? '', steps: [] });
    const marker = /<<'?(\w+)'?/.exec(args);
    let heredoc: string | undefined;
    if (marker) {
      const end = lines.indexOf(marker[1]!, i + 1);
      heredoc = lines.slice(i + 1, end).join('\n');
      i = end;
    }
    stages.at(-1)?.steps.push({ op, args, heredoc });
  }
  return Object.fromEntries(stages.map((s) => [s.name, s.steps]));
}

const stages = readStages(dockerfile);
const build = stages.build ?? [];
const runtime = stages.runtime ?? [];
const imageCommand = JSON.parse(runtime.find((s) => s.op === 'CMD')?.args ?? '[]') as string[];
const ms = (since: number) => Math.round(performance.now() - since);
const timings: Record<string, number> = {};

let work = '';
let buildDir = '';
let appDir = '';
/** The key namespace of the services this file starts on the shared test cluster; removed afterwards. */
const namespace = uniqueNamespace('img');
const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { dev?: boolean; devOptional?: boolean; optional?: boolean }>;
};

/**
 * A COPY step into `dir`, placed as Docker places it; `from` maps a source to the file it names (this
 * checkout, or an earlier stage's dir for `--from=`). Symlinks (node_modules/.bin) are copied as links.
 */
function copy(step: { args: string; heredoc?: string }, dir: string, from: (source: string) => string) {
  const parts = step.args.split(/\s+/).filter((part) => !part.startsWith('--'));
  const dest = parts.at(-1)!;
  if (step.heredoc !== undefined) {
    writeFileSync(path.join(dir, dest), step.heredoc);
    return;
  }
  const sources = parts.slice(0, -1);
  for (const source of sources) {
    const into =
      dest.endsWith('/') || sources.length > 1
        ? path.join(dir, dest, path.basename(source))
        : path.join(dir, dest);
    mkdirSync(path.dirname(into), { recursive: true });
    cpSync(from(source), into, { recursive: true, verbatimSymlinks: true });
  }
}

/**
 * The environment of the build stage's commands: this process's, without what vitest and npx put there
 * (NODE_ENV=test, NODE_OPTIONS, npm_* lifecycle variables); HOME keeps this machine's npm cache and config.
 */
function buildEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !/^npm_/i.test(name) && name !== 'NODE_ENV' && name !== 'NODE_OPTIONS',
    ),
  );
}

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'orderflow-image-'));
  buildDir = path.join(work, 'build');
  appDir = path.join(work, 'app');
  mkdirSync(buildDir);
  mkdirSync(appDir);

  // Build stage, every step as written, on a clean copy: the COPYs take files from this checkout (no
  // node_modules, no dist/), and every RUN runs; `npm ci` installs from npm's cache here.
  const workdir = build.find((s) => s.op === 'WORKDIR')?.args ?? '/';
  for (const step of build) {
    if (step.op === 'COPY') copy(step, buildDir, (source) => path.join(root, source));
    if (step.op !== 'RUN') continue;
    const started = performance.now();
    const command = step.args.startsWith('npm ci') ? `${step.args} --prefer-offline` : step.args;
    try {
      execFileSync('sh', ['-c', command], { cwd: buildDir, env: buildEnv(), stdio: 'pipe' });
    } catch (error) {
      // tsc reports on stdout, npm on stderr.
      const { stdout = '', stderr = '' } = error as { stdout?: Buffer; stderr?: Buffer };
      throw new Error(`build stage: \`${command}\` failed\n${stdout}${stderr}`);
    }
    const name = /^npm (?:run )?(\w+)/.exec(step.args)?.[1] ?? step.args.split(/\s/)[0]!;
    timings[`${name}_ms`] = ms(started);
  }

  // Runtime stage: what it copies from the build stage. Its only RUN installs tini, the image's PID 1.
  const started = performance.now();
  for (const step of runtime) {
    if (step.op === 'COPY') {
      expect(step.args).toMatch(/^--from=build\s/);
      copy(step, appDir, (source) => path.join(buildDir, path.relative(workdir, source)));
    } else if (step.op === 'RUN' && !step.args.startsWith('apt-get')) {
      throw new Error(`the runtime stage runs a command this test does not replay: ${step.args}`);
    }
  }
  timings.runtime_copy_ms = ms(started);
}, 300_000);

const children = new Set<ChildProcess>();
afterAll(async () => {
  const exits = [...children]
    .filter((child) => child.exitCode === null && child.signalCode === null)
    .map((child) => new Promise((resolve) => child.once('close', resolve)).then(() => undefined));
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.all(exits);
  // Nothing of this file writes any more: remove its keys from the shared test cluster.
  const store = createStore(loadConfig({ REDIS_NODES: redisNodes() }));
  try {
    await deleteNamespace(store, namespace);
  } finally {
    await store.quit();
  }
  if (work) rmSync(work, { recursive: true, force: true });
  process.stdout.write(`production start: ${JSON.stringify(timings)}\n`);
});

/** Runs `command` (argv[0] is `node`) in the app dir as the image would, with only `env`. */
function start(command: string[], env: Record<string, string>) {
  const [program, ...args] = command;
  expect(program).toBe('node');
  const child = spawn(process.execPath, args, {
    cwd: appDir,
    env: { PATH: process.env.PATH, NODE_ENV: 'production', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  // 'close', not 'exit': only then has all its output been read (an EADDRINUSE, a last log line).
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await sleep(100);
  }
}
const ready = (url: string) => until(() => fetch(url).then((r) => (r.ok ? true : undefined)), `${url} ready`);

describe('the production image, built, pruned and started without Docker', () => {
  it('builds with npm ci, npm run build and npm prune --omit=dev, in that order', () => {
    expect(build.filter((s) => s.op === 'RUN').map((s) => s.args)).toEqual([
      expect.stringMatching(/^npm ci( |$)/),
      'npm run build',
      expect.stringMatching(/^npm prune --omit=dev( |$)/),
    ]);
  });

  it('holds only production dependencies and every file the code reads beside its modules', () => {
    const installed = (key: string) => existsSync(path.join(appDir, key));
    for (const dev of ['tsx', 'vitest', 'autocannon', 'pino-pretty', '@biomejs/biome', 'playwright-core']) {
      expect(installed(`node_modules/${dev}`), dev).toBe(false);
    }
    // The whole lock: no dev-only package is left, every production one is there. (typescript stays:
    // valibot, under @bull-board/api, names it as an optional peer, which makes it devOptional.)
    const packages = Object.entries(lock.packages).filter(([key]) => key.startsWith('node_modules/'));
    const devOnly = packages.filter(([, entry]) => entry.dev).map(([key]) => key);
    const production = packages
      .filter(([, entry]) => !entry.dev && !entry.devOptional && !entry.optional)
      .map(([key]) => key);
    expect(devOnly.filter(installed)).toEqual([]);
    expect(production.filter((key) => !installed(key))).toEqual([]);
    timings.production_packages = packages.filter(([key]) => installed(key)).length;

    expect(existsSync(path.join(appDir, 'dist/package.json'))).toBe(true);
    const assets = execFileSync('find', ['shared', 'server', 'workers', 'dashboards', '-type', 'f'], {
      cwd: root,
      encoding: 'utf8',
    })
      .split('\n')
      .filter((file) => file && !/\.tsx?$/.test(file));
    expect(assets.length).toBeGreaterThan(0);
    for (const asset of assets) expect(existsSync(path.join(appDir, 'dist', asset)), asset).toBe(true);
  });

  it('logs JSON with one warning, rather than crashing, when LOG_PRETTY asks for the absent pino-pretty', () => {
    const script = `import { createLogger } from './dist/shared/logger.js';
      createLogger({ LOG_LEVEL: 'info', LOG_PRETTY: true }, { service: 'probe' }).info({ event: 'hello' });`;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: appDir,
      env: { PATH: process.env.PATH, NODE_ENV: 'production' },
      encoding: 'utf8',
    });
    const lines = output
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { level: string; event: string });
    expect(lines.map((line) => [line.level, line.event])).toEqual([
      ['warn', 'log-pretty-unavailable'],
      ['info', 'hello'],
    ]);
  });

  it('runs the API and a worker node with the image commands, completes an order, and stops both cleanly', async () => {
    const env = {
      REDIS_NODES: redisNodes(),
      KEY_NAMESPACE: namespace,
      STEP_MS: '20',
      // The order must complete: no simulated failures.
      STEP_FAILURE_RATE: '0',
      ADMIN_TOKEN: 'production-start-token',
    };
    let started = performance.now();
    // PORT=0: the kernel picks the API's port at bind time and the API logs it, so no other process
    // can take it between a choice and the bind.
    const api = start(imageCommand, { ...env, HOST: '127.0.0.1', PORT: '0' });
    // NODE_PORT=0 turns a worker's probe off, so it gets a free port, and another one if something
    // took that port before the worker bound it; the probe counts only once it names this node.
    const nodeId = `img-worker-${namespace}`;
    let worker: ReturnType<typeof start> | undefined;
    try {
      const apiUrl = await until(async () => {
        const line = api
          .output()
          .split('\n')
          .find((text) => text.includes('"listening"'));
        return line === undefined ? undefined : new URL((JSON.parse(line) as { url: string }).url).origin;
      }, 'the API to log the port it listens on');
      const probe = await onFreePort(async (port) => {
        worker = start(compose.services.workers!.command, {
          ...env,
          HOST: '127.0.0.1',
          NODE_ID: nodeId,
          NODE_PORT: String(port),
        });
        const url = `http://127.0.0.1:${port}`;
        await waitForOwnProbe({ url, nodeId, port, exited: worker.exited, output: worker.output });
        return url;
      });
      await ready(`${apiUrl}/ready`);
      await ready(`${probe}/ready`);
      timings.ready_ms = ms(started);

      started = performance.now();
      const placed = await fetch(`${apiUrl}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user_id: 'image-user', items: [{ sku: 'A-1', qty: 1 }] }),
      });
      expect(placed.status).toBe(202);
      const location = placed.headers.get('location')!;
      const done = await until(async () => {
        const order = (await (await fetch(`${apiUrl}${location}`)).json()) as {
          status: string;
        };
        return order.status === 'completed' || order.status === 'failed' ? order : undefined;
      }, 'order completion');
      expect(done.status).toBe('completed');
      timings.order_ms = ms(started);
    } catch (error) {
      throw new Error(`${(error as Error).message}\napi:\n${api.output()}\nworker:\n${worker?.output()}`);
    }

    started = performance.now();
    process.kill(api.child.pid!, 'SIGTERM');
    process.kill(worker!.child.pid!, 'SIGTERM');
    expect(await api.exited).toBe(0);
    expect(await worker!.exited).toBe(0);
    timings.stop_ms = ms(started);
  }, 60_000);

  it('runs the Dragonfly configurator from the compiled entry point and stops it on SIGTERM', async () => {
    const command = compose.services['cluster-config']!.command;
    const nodeArgs = command.flatMap((arg, i) =>
      arg === '--node' || command[i - 1] === '--node' ? [] : [arg],
    );
    const configurator = start([...nodeArgs.slice(0, 3), '--node', 'df-1@127.0.0.1:1/1'], {});
    await until(
      async () => (configurator.output().includes('node-unreachable') ? true : undefined),
      'a round',
    );
    process.kill(configurator.child.pid!, 'SIGTERM');
    expect(await configurator.exited).toBe(0);
  }, 30_000);
});
