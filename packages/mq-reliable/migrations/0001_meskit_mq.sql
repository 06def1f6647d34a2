-- @meskit/mq-reliable: the transactional outbox and the consumers' inbox, with the default
-- table names. Generated from src/outbox/schema.ts (a test keeps the two equal); safe to run
-- again.

CREATE TABLE IF NOT EXISTS meskit_outbox (
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
CREATE INDEX IF NOT EXISTS meskit_outbox_pending ON meskit_outbox (id) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS meskit_outbox_pending_key ON meskit_outbox (ordering_key, id) WHERE sent_at IS NULL AND ordering_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS meskit_outbox_sent ON meskit_outbox (sent_at) WHERE sent_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS meskit_inbox (
  consumer text NOT NULL,
  message_id text NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, message_id)
);
CREATE INDEX IF NOT EXISTS meskit_inbox_processed ON meskit_inbox (processed_at);
