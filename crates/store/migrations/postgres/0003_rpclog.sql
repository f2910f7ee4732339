-- Signed RPC calls (the ingest gateway's POST /op and the worker). `rpclog` keeps every call a
-- worker applied, once per (wallet, id): the wallet recovered from the signature (0x + 40
-- lower-case hex), the client's id, the method, its params (JSON text), the exact signed bytes
-- as sent (`raw`: the MessagePack envelope, or the JSON body with its `x-sig` in `signature`),
-- so that a row can be verified again, its JetStream stream sequence and times (Unix epoch
-- milliseconds; `ts` is the signed timestamp, when the call had one).
CREATE TABLE rpclog (
    wallet          TEXT COLLATE "C" NOT NULL,
    id              TEXT COLLATE "C" NOT NULL,
    method          TEXT NOT NULL,
    params          JSONB NOT NULL,
    format          TEXT NOT NULL CHECK (format IN ('msgpack', 'json')),
    raw             BYTEA NOT NULL,
    signature       TEXT,
    ts              BIGINT,
    stream_sequence BIGINT NOT NULL,
    received_at     BIGINT NOT NULL,
    applied_at      BIGINT NOT NULL,
    PRIMARY KEY (wallet, id)
);
CREATE INDEX rpclog_method ON rpclog (method, applied_at);
CREATE INDEX rpclog_wallet ON rpclog (wallet, stream_sequence);

-- The node's own key: signs the answers of POST /query. Made on the first start and shared by
-- every instance on the database, so that clients know one node wallet.
CREATE TABLE rpc_node_key (
    name       TEXT PRIMARY KEY,
    secret     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The example methods track_comment.add / update / delete. A comment is its author's: the key
-- is (wallet, comment_id), so no wallet can take, edit or delete another's comment. A row made
-- by an update or delete that arrived before its add is a placeholder (`track_id` NULL) until
-- the add comes; `version` orders edits (the call's signed ts, else the time the gateway
-- received it), so that an older edit never overwrites a newer one; a delete leaves a tombstone
-- (`deleted_at`).
CREATE TABLE track_comments (
    wallet      TEXT COLLATE "C" NOT NULL,
    comment_id  TEXT COLLATE "C" NOT NULL,
    track_id    BIGINT,
    position_ms BIGINT,
    comment     TEXT,
    version     BIGINT NOT NULL,
    created_at  BIGINT,
    updated_at  BIGINT NOT NULL,
    deleted_at  BIGINT,
    PRIMARY KEY (wallet, comment_id)
);
CREATE INDEX track_comments_track ON track_comments (track_id, position_ms);
