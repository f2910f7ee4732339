//! Turns loaded settings into the server's configuration.

use natsapi_config::Settings;
use natsapi_server::ServerConfig;
use natsapi_server::http::auth::HttpAuth;
use natsapi_server::listen::HttpLimits;
use natsapi_server::nats::NatsConfig;
use natsapi_server::server::ListenConfig;
use natsapi_store::StoreConfig;
use natsapi_store::postgres::PostgresConfig;
use natsapi_store::sqlite::{SqliteConfig, Synchronous};

/// SQLite's commit durability as the settings name it.
fn synchronous(level: natsapi_config::Synchronous) -> Synchronous {
    match level {
        natsapi_config::Synchronous::Full => Synchronous::Full,
        natsapi_config::Synchronous::Normal => Synchronous::Normal,
    }
}

/// The store the settings describe.
fn store_config(store: &natsapi_config::StoreSettings) -> StoreConfig {
    match store.kind {
        natsapi_config::StoreKind::Memory => StoreConfig::Memory,
        natsapi_config::StoreKind::Sqlite => StoreConfig::Sqlite(SqliteConfig {
            path: store.sqlite.path.clone(),
            synchronous: synchronous(store.sqlite.synchronous),
            ..SqliteConfig::default()
        }),
        natsapi_config::StoreKind::Postgres => StoreConfig::Postgres(PostgresConfig {
            // Loading refuses a postgres store without a URL; an empty one fails to open.
            url: store.postgres.url.as_ref().map(|url| url.expose().to_owned()).unwrap_or_default(),
            pool_size: store.postgres.pool_size,
            statement_timeout: store.postgres.statement_timeout,
            ..PostgresConfig::default()
        }),
    }
}

/// The store that keeps the ingest tables (`--ingest-db`): a SQLite file committed with the
/// store's synchronous setting, or a PostgreSQL database with the store's pool size and
/// statement timeout.
pub fn ingest_store_config(settings: &Settings) -> StoreConfig {
    let store = &settings.store;
    match &settings.ingest.database {
        natsapi_config::IngestDatabase::Sqlite(path) => StoreConfig::Sqlite(SqliteConfig {
            path: path.clone(),
            synchronous: synchronous(store.sqlite.synchronous),
            ..SqliteConfig::default()
        }),
        natsapi_config::IngestDatabase::Postgres(url) => StoreConfig::Postgres(PostgresConfig {
            url: url.expose().to_owned(),
            pool_size: store.postgres.pool_size,
            statement_timeout: store.postgres.statement_timeout,
            ..PostgresConfig::default()
        }),
    }
}

/// A store's database as messages name it: the file, or the PostgreSQL URL without password.
pub fn describe_store(config: &StoreConfig) -> String {
    match config {
        StoreConfig::Memory => "in memory".to_owned(),
        StoreConfig::Sqlite(sqlite) => sqlite.path.display().to_string(),
        StoreConfig::Postgres(postgres) => natsapi_store::postgres::redacted(&postgres.url),
    }
}

/// The server configuration the settings describe.
pub fn server_config(settings: &Settings) -> ServerConfig {
    let nats = &settings.api.nats;
    let store = &settings.store;
    ServerConfig {
        store: store_config(store),
        nats: nats.enabled.then(|| NatsConfig {
            addr: nats.addr.clone(),
            subject: nats.subject.clone(),
            queue_group: nats.queue_group.clone(),
            max_payload: nats.max_payload,
            max_inflight: nats.max_inflight,
            drain_timeout: nats.timeout,
            connection: nats.connection.clone(),
        }),
        http: settings.api.http.enabled.then(|| listen_config(&settings.api.http)),
        poll: settings.api.poll.enabled.then(|| listen_config(&settings.api.poll)),
        targets: settings.targets.clone(),
        http_auth: settings.api.http_auth.as_ref().map(|auth| match auth {
            natsapi_config::HttpAuth::Bearer(token) => HttpAuth::Bearer(token.clone()),
            natsapi_config::HttpAuth::Basic { username, password } => {
                HttpAuth::Basic { username: username.clone(), password: password.clone() }
            }
        }),
    }
}

/// Where and within what bounds an HTTP listener listens.
pub fn listen_config(http: &natsapi_config::HttpSettings) -> ListenConfig {
    let limits = &http.limits;
    ListenConfig {
        addr: http.addr.clone(),
        any_port_if_busy: http.any_port_if_busy,
        limits: HttpLimits {
            header_read_timeout: limits.header_read_timeout,
            idle_timeout: limits.idle_timeout,
            max_connections: limits.max_connections,
        },
    }
}
