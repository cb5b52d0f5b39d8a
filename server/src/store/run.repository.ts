import type { ContentPart, FinishReason, ToolCallKind, Usage } from '@astron-chat/shared';
import { createId } from '../lib/ids.ts';
import type { Database, DatabaseKind, MessageTable, RunStatus } from './database.ts';
import { precompiled } from './precompiled.ts';

export type StoredToolCall = { id: string; kind: ToolCallKind; name: string; arguments: string; result?: string };

export type HistoryMessage =
  | { role: 'user'; content: string; parts?: ContentPart[] }
  | { role: 'assistant'; content: string; audio?: AnswerAudio };

/** An audio answer as a run keeps it: the upstream's reference and the transcript, not the audio. */
export type AnswerAudio = { id: string; transcript: string; expiresAt: number };
/** How an assistant message's `parts` column holds its audio answer. */
type StoredAudioPart = { type: 'audio'; audio: { id: string; expires_at: number; transcript: string } };

/** Everything a finished run leaves behind, written in one transaction. */
export type RunRecord = {
  runId: string;
  appId: string;
  botId: string;
  botVersion: number;
  chatId: string | undefined;
  uid: string;
  apiKeyId: string | undefined;
  transport: string;
  model: string;
  status: RunStatus;
  finishReason: FinishReason | undefined;
  error: { code: number; message: string } | undefined;
  usage: Usage;
  timeToFirstTokenMs: number | undefined;
  durationMs: number;
  caller: string | undefined;
  callerSid: string | undefined;
  createdAt: number;
  question: string;
  /** The question's content parts, when it held more than text. */
  questionParts?: ContentPart[] | undefined;
  answer: { content: string; reasoning: string; toolCalls: StoredToolCall[]; audio?: AnswerAudio | undefined };
  /** Provider ids that answered its model calls, comma-separated (a fallback's when it took over). */
  provider: string | undefined;
};

/** An event for the event sink (observability/run-events.ts builds them), as the outbox stores it. */
export type OutboxEvent = { id: string; subject: string; payload: string; createdAt: number };

/** Adds events to the outbox, inside the caller's transaction: they are written with the run's rows. */
async function writeOutbox(db: Database, events: OutboxEvent[]): Promise<void> {
  await db
    .insertInto('event_outbox')
    .values(
      events.map((event) => ({
        id: event.id,
        subject: event.subject,
        payload: event.payload,
        created_at: event.createdAt,
        sent_at: null,
      })),
    )
    .execute();
}

/** What a run's row and user message hold from its start on (the record without its outcome). */
export type RunStartRecord = Omit<
  RunRecord,
  'status' | 'finishReason' | 'error' | 'usage' | 'timeToFirstTokenMs' | 'durationMs' | 'answer' | 'provider'
>;

/** Another user's chat, or another bot's: the run must not read or write it. */
export class ChatOwnerError extends Error {
  constructor(readonly owner: { botId: string; uid: string }) {
    super('The chat belongs to another user or bot.');
  }
}

export function createRunRepository(db: Database, kind: DatabaseKind) {
  /**
   * A run's row as its start writes it. The two writes every run makes are compiled once
   * (precompiled.ts), here, per database: each dialect has its own SQL.
   */
  const insertRun = precompiled((builder: Database, row: ReturnType<typeof toRunRow>) =>
    builder.insertInto('runs').values(row),
  );

  /** A run's outcome, written once: only onto a row still running (a run closed already keeps its outcome). */
  const closeRun = precompiled(
    (
      builder: Database,
      { runId, appId, ...outcome }: ReturnType<typeof toRunOutcome> & { runId: string; appId: string },
    ) =>
      builder
        .updateTable('runs')
        .set(outcome)
        .where('id', '=', runId)
        .where('app_id', '=', appId)
        .where('status', '=', 'running'),
  );

  /**
   * Written when a run starts, so that a crash loses nothing accepted: the chat (claimed by this
   * user and bot if new), the user's message and a `running` run row. Throws ChatOwnerError when the
   * chat is another user's or bot's, before anything of the run is written.
   */
  async function writeRunStart(transaction: Database, record: RunStartRecord): Promise<void> {
    const now = Date.now();
    const { chatId } = record;
    if (chatId !== undefined) {
      const insert = transaction.insertInto('chats').values({
        app_id: record.appId,
        id: chatId,
        bot_id: record.botId,
        uid: record.uid,
        created_at: now,
        updated_at: now,
      });
      // A later turn only moves the chat's `updated_at` (the sidebar lists chats by last activity).
      await (
        kind === 'mysql'
          ? insert.onDuplicateKeyUpdate({ updated_at: now })
          : insert.onConflict((conflict) => conflict.columns(['app_id', 'id']).doUpdateSet({ updated_at: now }))
      ).execute();
      // Read back inside the transaction: of two users claiming a new chat id at once, one wins.
      const owner = await transaction
        .selectFrom('chats')
        .select(['bot_id', 'uid'])
        .where('app_id', '=', record.appId)
        .where('id', '=', chatId)
        .executeTakeFirstOrThrow();
      if (owner.uid !== record.uid || owner.bot_id !== record.botId) {
        throw new ChatOwnerError({ botId: owner.bot_id, uid: owner.uid });
      }
      await insertMessage(transaction, record, chatId, {
        role: 'user',
        content: record.question,
        reasoning: null,
        tool_calls: null,
        status: 'complete',
        parts: record.questionParts ? JSON.stringify(record.questionParts) : null,
      });
    }
    await insertRun(transaction, toRunRow(record));
  }

  /**
   * Writes a run's outcome: its row and its answer, once. A run whose start was never written (an
   * instance of older code, lost with its process) gets its start written here first.
   */
  async function writeRun(transaction: Database, record: RunRecord, events: OutboxEvent[]): Promise<void> {
    // Only a run still running: a run closed already (say, one thought lost that then finished) keeps its outcome.
    const outcome = Object.assign(toRunOutcome(record), { runId: record.runId, appId: record.appId });
    const update = () => closeRun(transaction, outcome);
    if ((await update()).numAffectedRows === 0n) {
      const existing = await transaction
        .selectFrom('runs')
        .select('status')
        .where('id', '=', record.runId)
        .executeTakeFirst();
      if (existing) return;
      await writeRunStart(transaction, record);
      await update();
    }
    if (events.length > 0) await writeOutbox(transaction, events);
    const { chatId, answer } = record;
    if (chatId !== undefined && (answer.content || answer.reasoning || answer.toolCalls.length > 0 || answer.audio)) {
      await insertMessage(transaction, record, chatId, {
        role: 'assistant',
        content: answer.content,
        reasoning: answer.reasoning || null,
        tool_calls: answer.toolCalls.length > 0 ? JSON.stringify(answer.toolCalls) : null,
        status: record.status === 'succeeded' ? 'complete' : 'partial',
        parts: answer.audio ? JSON.stringify([toStoredAudioPart(answer.audio)]) : null,
      });
    }
  }

  /**
   * Group commit per turn: run writes queued in the same event-loop turn share one transaction, so
   * under load many runs cost one commit instead of one each, and each caller still waits for its own
   * write's commit. Per turn, not "while one commits": SQLite commits without waiting on I/O, so
   * nothing would ever queue behind a commit, and a commit per run writes the same WAL pages once per
   * run. That cost 11-20 % more server CPU per Astron REST request at c=64 and c=512
   * (docs/decisions/2026-12-02-one-entry-into-the-core.md). Records are not events: no event waits here.
   */
  type Write = { run: (transaction: Database) => Promise<void>; resolve: () => void; reject: (error: unknown) => void };
  let queued: Write[] = [];
  async function commitQueued(): Promise<void> {
    const items = queued;
    queued = [];
    const only = items.length === 1 ? items[0] : undefined;
    try {
      if (only) await db.transaction().execute((transaction) => only.run(transaction));
      else
        await db.transaction().execute(async (transaction) => {
          for (const item of items) await item.run(transaction);
        });
      for (const item of items) item.resolve();
    } catch (error) {
      if (only) return only.reject(error);
      // One bad write must not lose the others: write them one by one.
      for (const item of items) {
        await db
          .transaction()
          .execute((transaction) => item.run(transaction))
          .then(item.resolve, item.reject);
      }
    }
  }
  function enqueue(run: Write['run']): Promise<void> {
    return new Promise((resolve, reject) => {
      queued.push({ run, resolve, reject });
      if (queued.length === 1) setImmediate(() => void commitQueued());
    });
  }

  return {
    /** Stored turns of a chat of this app, oldest first (at most `limit`). */
    async loadHistory(input: { appId: string; chatId: string; limit: number }): Promise<HistoryMessage[]> {
      const rows = await db
        .selectFrom('messages')
        .select(['role', 'content', 'parts'])
        .where('app_id', '=', input.appId)
        .where('chat_id', '=', input.chatId)
        .orderBy('id', 'desc')
        .limit(input.limit)
        .execute();
      return rows.reverse().map(({ role, content, parts }): HistoryMessage => {
        if (role === 'assistant') {
          const audio = parts === null ? undefined : fromStoredAudioPart(JSON.parse(parts) as unknown[]);
          return audio ? { role, content, audio } : { role, content };
        }
        return parts === null ? { role, content } : { role, content, parts: JSON.parse(parts) as ContentPart[] };
      });
    },

    /** Which bot and user a chat of this app belongs to. */
    async findChat(appId: string, chatId: string): Promise<{ botId: string; uid: string } | undefined> {
      const row = await db
        .selectFrom('chats')
        .select(['bot_id', 'uid'])
        .where('app_id', '=', appId)
        .where('id', '=', chatId)
        .executeTakeFirst();
      return row && { botId: row.bot_id, uid: row.uid };
    },

    /**
     * Writes a run's start (see writeRunStart), and `events` for the event sink in the same
     * transaction; rejects with ChatOwnerError for another user's chat.
     */
    recordRunStart(record: RunStartRecord, events: OutboxEvent[] = []): Promise<void> {
      return enqueue(async (transaction) => {
        await writeRunStart(transaction, record);
        if (events.length > 0) await writeOutbox(transaction, events);
      });
    },

    /** Stores a finished run, and `events` for the event sink in the same transaction. */
    recordRun(record: RunRecord, events: OutboxEvent[] = []): Promise<void> {
      return enqueue((transaction) => writeRun(transaction, record, events));
    },

    /** Runs left `running`, oldest first (at most `limit`): after a crash, runs of a dead process. */
    async listRunning(limit: number) {
      return db
        .selectFrom('runs')
        .selectAll()
        .where('status', '=', 'running')
        .orderBy('created_at')
        .limit(limit)
        .execute();
    },

    /** A page of a chat's messages, newest last; `before` (a message id) pages back in time. */
    async listMessages(input: { appId: string; chatId: string; limit: number; before?: string | undefined }) {
      let query = db
        .selectFrom('messages')
        .select(['id', 'role', 'content', 'parts', 'reasoning', 'tool_calls', 'status', 'run_id', 'created_at'])
        .where('app_id', '=', input.appId)
        .where('chat_id', '=', input.chatId);
      if (input.before) query = query.where('id', '<', input.before);
      const rows = await query
        .orderBy('id', 'desc')
        .limit(input.limit + 1)
        .execute();
      const more = rows.length > input.limit;
      const page = rows.slice(0, input.limit).reverse();
      return { messages: page, nextBefore: more ? page[0]?.id : undefined };
    },

    /** Runs and tokens of an app by UTC day, bot and key, days `from`..`to` inclusive. */
    async usageByDay(input: { appId: string; from: string; to: string }) {
      const rows = await db
        .selectFrom('runs')
        .select((expression) => [
          'day',
          'bot_id',
          'api_key_id',
          'provider',
          expression.fn.countAll<number>().as('runs'),
          expression.fn.sum<number>('prompt_tokens').as('prompt_tokens'),
          expression.fn.sum<number>('completion_tokens').as('completion_tokens'),
          expression.fn.sum<number>('total_tokens').as('total_tokens'),
          expression.fn.sum<number>('cached_tokens').as('cached_tokens'),
          expression.fn.sum<number>('usage_estimated').as('estimated_runs'),
        ])
        .where('app_id', '=', input.appId)
        .where('day', '>=', input.from)
        .where('day', '<=', input.to)
        .groupBy(['day', 'bot_id', 'api_key_id', 'provider'])
        .orderBy('day')
        .orderBy('bot_id')
        .execute();
      // MySQL returns SUM/COUNT as strings.
      return rows.map((row) => ({
        day: row.day ?? '',
        botId: row.bot_id,
        apiKeyId: row.api_key_id,
        provider: row.provider,
        runs: Number(row.runs),
        promptTokens: Number(row.prompt_tokens),
        completionTokens: Number(row.completion_tokens),
        totalTokens: Number(row.total_tokens),
        /** Prompt tokens the upstream served from its cache, summed apart (they are part of promptTokens). */
        cachedPromptTokens: Number(row.cached_tokens),
        /** Runs whose usage was estimated here with a tokenizer: the upstream reported none. */
        estimatedRuns: Number(row.estimated_runs),
        estimated: Number(row.estimated_runs) > 0,
      }));
    },

    /** A user's chats of this app, most recently active first; `before` is the last page's `nextBefore`. */
    async listChats(input: { appId: string; uid: string; limit: number; before?: { updatedAt: number; id: string } }) {
      let query = db
        .selectFrom('chats')
        .select((expression) => [
          'chats.id',
          'chats.bot_id',
          'chats.created_at',
          'chats.updated_at',
          expression
            .selectFrom('messages')
            .select('messages.content')
            .whereRef('messages.app_id', '=', 'chats.app_id')
            .whereRef('messages.chat_id', '=', 'chats.id')
            .orderBy('messages.id')
            .limit(1)
            .as('first_message'),
        ])
        .where('chats.app_id', '=', input.appId)
        .where('chats.uid', '=', input.uid);
      const { before } = input;
      if (before) {
        query = query.where((expression) =>
          expression.or([
            expression('chats.updated_at', '<', before.updatedAt),
            expression.and([
              expression('chats.updated_at', '=', before.updatedAt),
              expression('chats.id', '<', before.id),
            ]),
          ]),
        );
      }
      const rows = await query
        .orderBy('chats.updated_at', 'desc')
        .orderBy('chats.id', 'desc')
        .limit(input.limit + 1)
        .execute();
      const page = rows.slice(0, input.limit);
      const last = page.at(-1);
      return {
        chats: page,
        next: rows.length > input.limit && last ? { updatedAt: Number(last.updated_at), id: last.id } : undefined,
      };
    },

    /** An app's runs, newest first (run ids sort by creation); `before` is a run id. */
    async listRuns(input: { appId: string; limit: number; before?: string | undefined }) {
      let query = db
        .selectFrom('runs')
        .select([
          'id',
          'bot_id',
          'bot_version',
          'chat_id',
          'uid',
          'transport',
          'status',
          'finish_reason',
          'error_code',
          'total_tokens',
          'time_to_first_token_ms',
          'duration_ms',
          'created_at',
        ])
        .where('app_id', '=', input.appId);
      if (input.before) query = query.where('id', '<', input.before);
      const rows = await query
        .orderBy('id', 'desc')
        .limit(input.limit + 1)
        .execute();
      const page = rows.slice(0, input.limit);
      return { runs: page, nextBefore: rows.length > input.limit ? page.at(-1)?.id : undefined };
    },

    async findRun(appId: string, runId: string) {
      return db.selectFrom('runs').selectAll().where('app_id', '=', appId).where('id', '=', runId).executeTakeFirst();
    },
  };
}
export type RunRepository = ReturnType<typeof createRunRepository>;

function toStoredAudioPart(audio: AnswerAudio): StoredAudioPart {
  return { type: 'audio', audio: { id: audio.id, expires_at: audio.expiresAt, transcript: audio.transcript } };
}

function fromStoredAudioPart(parts: unknown[]): AnswerAudio | undefined {
  const part = parts.find((candidate): candidate is StoredAudioPart => (candidate as StoredAudioPart).type === 'audio');
  return part && { id: part.audio.id, expiresAt: part.audio.expires_at, transcript: part.audio.transcript };
}

/** One message of a run's chat, stamped now. */
async function insertMessage(
  transaction: Database,
  record: { appId: string; runId: string },
  chatId: string,
  message: Pick<MessageTable, 'role' | 'content' | 'reasoning' | 'tool_calls' | 'status' | 'parts'>,
): Promise<void> {
  await transaction
    .insertInto('messages')
    .values(
      Object.assign({}, message, {
        id: createId('msg'),
        app_id: record.appId,
        chat_id: chatId,
        run_id: record.runId,
        created_at: Date.now(),
      }),
    )
    .execute();
}

function toRunRow(record: RunStartRecord) {
  return {
    id: record.runId,
    app_id: record.appId,
    bot_id: record.botId,
    bot_version: record.botVersion,
    chat_id: record.chatId ?? null,
    uid: record.uid,
    api_key_id: record.apiKeyId ?? null,
    transport: record.transport,
    model: record.model.slice(0, 128),
    status: 'running' as RunStatus,
    finish_reason: null,
    error_code: null,
    error_message: null,
    time_to_first_token_ms: null,
    duration_ms: null,
    caller: record.caller ?? null,
    caller_sid: record.callerSid ?? null,
    created_at: record.createdAt,
    finished_at: null,
    day: new Date(record.createdAt).toISOString().slice(0, 10),
  };
}

function toRunOutcome(record: RunRecord) {
  return {
    status: record.status,
    finish_reason: record.finishReason ?? null,
    error_code: record.error?.code ?? null,
    error_message: record.error?.message.slice(0, 512) ?? null,
    prompt_tokens: record.usage.promptTokens,
    completion_tokens: record.usage.completionTokens,
    total_tokens: record.usage.totalTokens,
    usage_estimated: record.usage.estimated ? 1 : 0,
    cached_tokens: record.usage.cachedPromptTokens ?? 0,
    tool_calls: record.answer.toolCalls.length > 0 ? JSON.stringify(record.answer.toolCalls) : null,
    time_to_first_token_ms: record.timeToFirstTokenMs ?? null,
    duration_ms: record.durationMs,
    finished_at: Date.now(),
    provider: record.provider?.slice(0, 255) ?? null,
  };
}
