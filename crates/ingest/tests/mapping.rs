//! The entity mapping on a real database, SQLite and PostgreSQL: tables created in the dialect's
//! types, rows landing once, bad values refused for good, and an existing table with other
//! columns reported.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{Db, Place, count_in};
use natsapi_core::{Operation, Reply, Success, Tx, TxError};
use natsapi_ingest::handler::{ApplyError, Message, MessageHandler};
use natsapi_ingest::mapping::{Column, ColumnType, EntityMappings, EntityTable};
use natsapi_store::{Store, StoreError};

fn orders() -> EntityMappings {
    let column = |name: &str, kind, required| Column {
        name: name.into(),
        pointer: format!("/{name}"),
        kind,
        required,
    };
    EntityMappings::new(BTreeMap::from([(
        "order".to_owned(),
        EntityTable {
            table: "orders".into(),
            columns: vec![
                column("order_id", ColumnType::Text, true),
                column("total", ColumnType::Real, false),
                column("items", ColumnType::Integer, false),
                column("paid", ColumnType::Boolean, false),
                column("extra", ColumnType::Json, false),
            ],
        },
    )]))
    .unwrap()
}

/// Runs the mapping's `prepare`, or its `apply` of `body` as message `id`, in one transaction.
#[derive(Clone)]
enum Run {
    Prepare,
    Apply { id: uuid::Uuid, body: serde_json::Value },
}

/// What a [`Run`] came to, besides a store failure.
type Ran = Result<(), String>;

#[derive(Clone)]
struct Mapping(Arc<EntityMappings>, Run);

impl Operation for Mapping {
    type Output = Ran;

    fn apply(self, tx: &mut dyn Tx, _now: i64) -> Result<Reply<Ran>, TxError> {
        let ran = match &self.1 {
            Run::Prepare => self.0.prepare(tx).map_err(|e| e.to_string()),
            Run::Apply { id, body } => {
                let message = Message {
                    message_id: *id,
                    entity_type: "order",
                    body,
                    source: None,
                    attempts: 1,
                };
                match self.0.apply(tx, &message) {
                    Ok(()) => Ok(()),
                    Err(ApplyError::Permanent(why)) => Err(why),
                    Err(e) => return Err(TxError::new(e)),
                }
            }
        };
        Ok(Ok(Success::ok(ran)))
    }
}

async fn run(store: &Store, mappings: &Arc<EntityMappings>, what: Run) -> Ran {
    match store.run(Mapping(Arc::clone(mappings), what)).await {
        Ok(Ok(success)) => success.value,
        Ok(Err(refusal)) => panic!("refused: {refusal}"),
        Err(e) => panic!("store failure: {e}"),
    }
}

async fn rows_land_once_in_the_dialects_types_and_bad_values_are_permanent(db: Db) {
    let place = Place::new(db);
    let store = place.open();
    let mappings = Arc::new(orders());
    run(&store, &mappings, Run::Prepare).await.unwrap();
    run(&store, &mappings, Run::Prepare).await.expect("an existing table of the mapping is fine");
    let body = serde_json::json!({
        "order_id": "A1", "total": 10.5, "items": 3, "paid": true, "extra": {"gift": [1, "x"]}
    });
    let apply = Run::Apply { id: uuid::Uuid::now_v7(), body };
    run(&store, &mappings, apply.clone()).await.unwrap();
    run(&store, &mappings, apply).await.unwrap();
    let count = count_in(
        &store,
        "SELECT COUNT(*) FROM orders WHERE order_id = 'A1' AND total = 10.5 AND items = 3 \
         AND paid = TRUE",
    )
    .await;
    assert_eq!(count, 1);
    let bad = Run::Apply { id: uuid::Uuid::now_v7(), body: serde_json::json!({"order_id": 7}) };
    let why = run(&store, &mappings, bad).await.unwrap_err();
    assert!(why.contains("expected a string"), "{why}");
    let missing = Run::Apply { id: uuid::Uuid::now_v7(), body: serde_json::json!({"total": 1}) };
    let why = run(&store, &mappings, missing).await.unwrap_err();
    assert!(why.contains("/order_id is missing"), "{why}");
    assert_eq!(count_in(&store, "SELECT COUNT(*) FROM orders").await, 1);
}

/// Creates a table `orders` with other columns than the mapping's.
#[derive(Clone)]
struct OtherOrders;

impl Operation for OtherOrders {
    type Output = ();

    fn apply(self, tx: &mut dyn Tx, _now: i64) -> Result<Reply<()>, TxError> {
        tx.execute("CREATE TABLE orders (message_id TEXT PRIMARY KEY, amount REAL)", &[])?;
        Ok(Ok(Success::ok(())))
    }
}

async fn a_table_with_other_columns_is_reported(db: Db) {
    let place = Place::new(db);
    let store = place.open();
    store.run(OtherOrders).await.unwrap().unwrap();
    let err = run(&store, &Arc::new(orders()), Run::Prepare).await.unwrap_err();
    assert!(err.contains("exists with columns (message_id TEXT, amount"), "{err}");
}

on_both!(
    rows_land_once_in_the_dialects_types_and_bad_values_are_permanent,
    a_table_with_other_columns_is_reported,
);

#[tokio::test]
async fn on_the_memory_store_a_mapping_says_it_needs_a_database() {
    let clock = Arc::new(natsapi_core::SystemClock);
    let store = Store::open(&natsapi_store::StoreConfig::memory(), clock).unwrap();
    let err = store.run(Mapping(Arc::new(orders()), Run::Prepare)).await;
    match err {
        Ok(Ok(success)) => {
            let why = success.value.unwrap_err();
            assert!(why.contains("the memory store keeps no SQL tables"), "{why}");
        }
        other => {
            panic!("{:?}", other.map(|r| r.map(|s| s.value)).map_err(|e: StoreError| e.to_string()))
        }
    }
}
