import type { Database } from './database.ts';

export type PendingEvent = { seq: number; id: string; subject: string; payload: string; createdAt: number };

/** The event outbox as the relay sees it: unsent events in order, marked sent once published. */
export function createOutboxRepository(db: Database) {
  return {
    async pending(limit: number): Promise<PendingEvent[]> {
      const rows = await db
        .selectFrom('event_outbox')
        .select(['seq', 'id', 'subject', 'payload', 'created_at'])
        .where('sent_at', 'is', null)
        .orderBy('seq')
        .limit(limit)
        .execute();
      return rows.map((row) => ({ ...row, seq: Number(row.seq), createdAt: Number(row.created_at) }));
    },
    async markSent(seqs: number[], at: number): Promise<void> {
      if (seqs.length > 0) await db.updateTable('event_outbox').set({ sent_at: at }).where('seq', 'in', seqs).execute();
    },
    /** Sent events are kept an hour for inspection, then deleted, so the table does not grow. */
    async deleteSentBefore(at: number): Promise<void> {
      await db.deleteFrom('event_outbox').where('sent_at', '<', at).execute();
    },
  };
}
export type OutboxRepository = ReturnType<typeof createOutboxRepository>;
