// The outbox and inbox tables. The same statements ship as migrations/0001_meskit_mq.sql for
// teams that run their own migration tool; createOutbox().migrate() and
// pgInbox().migrate() run them (idempotent: IF NOT EXISTS everywhere).

/** The outbox table: one row per message written in the caller's transaction. */
export function outboxSchemaSql(table = 'meskit_outbox'): string {
  const index = table.replace('.', '_');
  return `CREATE TABLE IF NOT EXISTS ${table} (
  id bigserial PRIMARY KEY,
  message_id text NOT NULL UNIQUE,
  exchange text NOT NULL,
  routing_key text NOT NULL,
  ordering_key text,
  headers jsonb NOT NULL DEFAULT '{}'::jsonb,
  content bytea NOT NULL,
  content_type text,
  created_at timestamptz NOT NULL DEFAULT now(),
  available_at timestamptz NOT NULL DEFAULT now(),
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  sent_at timestamptz
);
CREATE INDEX IF NOT EXISTS ${index}_pending ON ${table} (id) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS ${index}_pending_key ON ${table} (ordering_key, id) WHERE sent_at IS NULL AND ordering_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS ${index}_sent ON ${table} (sent_at) WHERE sent_at IS NOT NULL;
`;
}

/** The inbox table: one row per message a consumer has had its effect for. */
export function inboxSchemaSql(table = 'meskit_inbox'): string {
  const index = table.replace('.', '_');
  return `CREATE TABLE IF NOT EXISTS ${table} (
  consumer text NOT NULL,
  message_id text NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, message_id)
);
CREATE INDEX IF NOT EXISTS ${index}_processed ON ${table} (processed_at);
`;
}
