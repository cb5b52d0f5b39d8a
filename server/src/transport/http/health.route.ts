import type { IncomingMessage, ServerResponse } from 'node:http';
import { failingChecks, type HealthReport } from '../../observability/health.ts';
import { sendJson } from './http-io.ts';

/**
 * `/health` (the full report; 503 when a required dependency is down), `/health/live` (the process
 * answers: never looks at a dependency, so an orchestrator does not restart a pod for a database
 * outage) and `/health/ready` (503 naming the failing checks: take this instance out of rotation).
 */
export function createHealthRoutes(options: { checkHealth: () => Promise<HealthReport>; demoMode: boolean }) {
  const { checkHealth, demoMode } = options;
  return {
    health: async (_request: IncomingMessage, response: ServerResponse) => {
      const report = await checkHealth();
      sendJson(response, report.status === 'unavailable' ? 503 : 200, { ...report, demoMode });
    },
    live: (_request: IncomingMessage, response: ServerResponse): Promise<void> => {
      sendJson(response, 200, { status: 'live', timestamp: new Date().toISOString() });
      return Promise.resolve();
    },
    ready: async (_request: IncomingMessage, response: ServerResponse) => {
      const report = await checkHealth();
      const failing = failingChecks(report);
      sendJson(
        response,
        failing.length > 0 ? 503 : 200,
        failing.length > 0
          ? {
              status: 'not_ready',
              failing,
              message: `Not ready: ${failing.map((name) => `${name} (${report.checks[name]?.error ?? 'down'})`).join(', ')}.`,
              checks: report.checks,
              timestamp: report.timestamp,
            }
          : { status: 'ready', checks: report.checks, timestamp: report.timestamp },
      );
    },
  };
}
