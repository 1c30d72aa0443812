// The API process: wires config and the API runtime once, listens, and closes cleanly on SIGTERM/SIGINT.
import { loadConfig } from '../shared/config.js';
import { runMain, tellSupervisor } from '../shared/process.js';
import { createApiRuntime } from './runtime.js';

runMain('api', async ({ onShutdown }) => {
  const config = loadConfig();
  const api = createApiRuntime(config);
  onShutdown('api runtime', () => api.close());
  const { port } = await api.start();
  // With PORT=0 the port is known only now; `npm start` prints its URLs from this.
  tellSupervisor({ event: 'listening', port });
  return api.logger;
});
