//! The store a suite runs on: `NATSAPI_TEST_STORE` picks `memory` (the default), `sqlite` or
//! `postgres`, so one suite proves the same behaviour on every backend (`scripts/test` runs the
//! end-to-end suites again on PostgreSQL).

use natsapi_store::StoreConfig;
use natsapi_testkit::TestDatabase;
use tempfile::TempDir;

/// The variable that picks the store.
pub const STORE_ENV: &str = "NATSAPI_TEST_STORE";

/// A store configuration and the database behind it, removed when dropped (after the server that
/// used it has stopped).
pub struct TestStore {
    /// What the server opens.
    pub config: StoreConfig,
    _place: Place,
}

enum Place {
    Nothing,
    Directory(TempDir),
    Database(Box<TestDatabase>),
}

impl TestStore {
    /// The store `NATSAPI_TEST_STORE` names, in a fresh place of its own.
    pub fn from_env() -> TestStore {
        let kind = std::env::var(STORE_ENV).unwrap_or_default();
        TestStore::of(if kind.is_empty() { "memory" } else { &kind })
    }

    /// A fresh store of `kind`: memory, sqlite or postgres.
    pub fn of(kind: &str) -> TestStore {
        match kind {
            "memory" => TestStore { config: StoreConfig::memory(), _place: Place::Nothing },
            "sqlite" => {
                let dir = TempDir::new().expect("temp dir");
                let config = StoreConfig::sqlite(dir.path().join("natsapi.db"));
                TestStore { config, _place: Place::Directory(dir) }
            }
            "postgres" => {
                let database = TestDatabase::create().unwrap_or_else(|e| panic!("{e}"));
                let config = StoreConfig::postgres(database.url());
                TestStore { config, _place: Place::Database(Box::new(database)) }
            }
            other => panic!("{STORE_ENV}={other:?}: expected memory, sqlite or postgres"),
        }
    }
}
