//! A schema of its own inside a [`TestDatabase`]: far cheaper to make and drop than a database
//! (no checkpoint, no copy of a template), for tests that open many stores.

use std::sync::atomic::{AtomicU64, Ordering};

use super::admin;
use super::{PostgresUrl, TestDatabase};
use crate::TestkitError;

/// A fresh schema, dropped (with everything in it) on drop. Connections made with
/// [`TestSchema::url`] find their tables there: the URL sets `search_path` to it.
pub struct TestSchema {
    name: String,
    database: PostgresUrl,
    url: String,
}

impl TestDatabase {
    /// Creates a schema in this database, named `s<counter>`.
    pub fn schema(&self) -> Result<TestSchema, TestkitError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!("s{}", COUNTER.fetch_add(1, Ordering::Relaxed));
        let database = self.admin_url().with_dbname(self.name());
        admin::on_admin_thread(&format!("creating schema {name}"), || {
            admin::execute(&database, &format!("CREATE SCHEMA {}", admin::quote_ident(&name)))
        })?;
        let url = database.with_options(&format!("-c search_path={name}")).url();
        Ok(TestSchema { name, database, url })
    }
}

impl TestSchema {
    /// A `postgres://` URL of the database whose connections use this schema.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let (database, name) = (&self.database, self.name.as_str());
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", admin::quote_ident(name));
        let result = admin::on_admin_thread(&format!("dropping schema {name}"), || {
            admin::execute(database, &sql)
        });
        if let Err(e) = result {
            eprintln!("natsapi-testkit: test schema {name} was not dropped: {e}");
        }
    }
}
