//! Turns loaded settings into the server's configuration.

use natsapi_config::Settings;
use natsapi_server::ServerConfig;
use natsapi_server::http::auth::HttpAuth;
use natsapi_server::nats::NatsConfig;
use natsapi_store::sqlite::{SqliteConfig, Synchronous};
use natsapi_store::{StoreConfig, StoreKind};

/// The server configuration the settings describe.
pub fn server_config(settings: &Settings) -> ServerConfig {
    let nats = &settings.api.nats;
    let store = &settings.store;
    ServerConfig {
        store: StoreConfig {
            kind: match store.kind {
                natsapi_config::StoreKind::Memory => StoreKind::Memory,
                natsapi_config::StoreKind::Sqlite => StoreKind::Sqlite,
            },
            sqlite: SqliteConfig {
                path: store.sqlite.path.clone(),
                synchronous: match store.sqlite.synchronous {
                    natsapi_config::Synchronous::Full => Synchronous::Full,
                    natsapi_config::Synchronous::Normal => Synchronous::Normal,
                },
                ..SqliteConfig::default()
            },
        },
        nats: nats.enabled.then(|| NatsConfig {
            addr: nats.addr.clone(),
            subject: nats.subject.clone(),
            queue_group: nats.queue_group.clone(),
            max_payload: nats.max_payload,
            max_inflight: nats.max_inflight,
            drain_timeout: nats.timeout,
            connection: nats.connection.clone(),
        }),
        http: settings.api.http.enabled.then(|| settings.api.http.addr.clone()),
        poll: settings.api.poll.enabled.then(|| settings.api.poll.addr.clone()),
        targets: settings.targets.clone(),
        http_auth: settings.api.http_auth.as_ref().map(|auth| match auth {
            natsapi_config::HttpAuth::Bearer(token) => HttpAuth::Bearer(token.clone()),
            natsapi_config::HttpAuth::Basic { username, password } => {
                HttpAuth::Basic { username: username.clone(), password: password.clone() }
            }
        }),
    }
}
