// Adds lock entries for optional platform binaries that this machine's registry mirror does not serve.
// npm omits them from package-lock.json when it cannot fetch their metadata, and `npm ci` then refuses
// the lock as out of sync. The entries are what a lock made against the full registry holds: optional,
// restricted to their os/cpu/libc, so npm skips them on every other platform without fetching them.
import { readFileSync, writeFileSync } from 'node:fs';

const lockPath = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
const platformOf = (name) => {
  const os = ['darwin', 'linux', 'win32', 'android', 'freebsd'].find((o) => name.includes(o));
  const cpu = ['arm64', 'x64', 'arm', 'ia32'].find((c) => new RegExp(`-${c}(-|$)`).test(name));
  return os && cpu ? { os: [os], cpu: [cpu], ...(name.includes('musl') ? { libc: ['musl'] } : {}) } : null;
};

let added = 0;
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    const platform = platformOf(name);
    if (lock.packages[key] || !platform) continue;
    lock.packages[key] = { version, ...(entry.dev ? { dev: true } : {}), optional: true, ...platform };
    added++;
    process.stdout.write(`added ${key}@${version} (optional dependency of ${path || 'the project'})\n`);
  }
}
if (added > 0) writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
process.stdout.write(`${added} lock entries added\n`);
