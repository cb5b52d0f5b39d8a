import type { Logger } from 'pino';
import type { AdminService } from '../admin/admin.service.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import type { ConversationService } from '../chat/conversations.ts';
import type { RunReads } from '../chat/run-reads.ts';
import type { Config } from '../config/config.ts';
import type { UnsentBudget } from '../lib/unsent-budget.ts';
import type { OverloadGuard } from '../observability/overload.ts';
import type { RunManager } from '../runs/run-manager.ts';
import type { BotRepository } from '../store/bot.repository.ts';

/**
 * What every transport is given by `createApp`; transports frame, they never reach the store
 * themselves. Runs start through `runs` only: it is the one way into the core.
 */
export type TransportDependencies = {
  config: Config;
  logger: Logger;
  authenticator: Authenticator;
  admin: AdminService;
  conversations: ConversationService;
  runReads: RunReads;
  runs: RunManager;
  bots: BotRepository;
  /** What every streaming writer (SSE, WebSocket) is given. */
  streams: StreamSettings;
  /** Refuses new runs and WebSocket upgrades while the event loop lags past OVERLOAD_LAG_MS. */
  overload: OverloadGuard;
};

/** The heartbeat (PING_INTERVAL_MS) and the owner of unsent bytes, per stream and in total. */
export type StreamSettings = { pingIntervalMs: number; unsent: UnsentBudget };
