//! The PostgreSQL schema, on a real throw-away server ([`crate::helpers::postgres`]): its
//! migrations apply, make the schema the SQLite migrations make, and are safe when several
//! instances start at once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use switchboard::store::AsConn;

use sqlx::Row;

use crate::helpers::postgres;

/// A schema as both stores are compared: per table its columns in order and its primary key;
/// the named indexes (not those backing a key or a UNIQUE constraint) with their table and
/// whether they are unique.
#[derive(Debug, PartialEq)]
struct Schema {
    tables: BTreeMap<String, (Vec<String>, Vec<String>)>,
    indexes: BTreeSet<(String, String, bool)>,
}

async fn sqlite_schema() -> Schema {
    let dir = tempfile::tempdir().expect("tempdir");
    let switchboard::store::Db::Sqlite(pool, _) =
        switchboard::store::connect(&format!("sqlite://{}", dir.path().join("s.db").display()))
            .await
            .expect("sqlite store")
    else {
        panic!("an sqlite: URL opens SQLite");
    };
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table'
         AND name NOT LIKE 'sqlite%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .expect("tables");
    let mut tables = BTreeMap::new();
    for name in names {
        let info = sqlx::query(&format!("PRAGMA table_info(\"{name}\")"))
            .fetch_all(&pool)
            .await
            .expect("columns");
        let columns = info.iter().map(|r| r.get::<String, _>("name")).collect();
        let mut key: Vec<(i64, String)> = info
            .iter()
            .filter(|r| r.get::<i64, _>("pk") > 0)
            .map(|r| (r.get("pk"), r.get("name")))
            .collect();
        key.sort();
        tables.insert(name, (columns, key.into_iter().map(|(_, c)| c).collect()));
    }
    let rows = sqlx::query(
        "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
    )
    .fetch_all(&pool)
    .await
    .expect("indexes");
    let mut indexes = BTreeSet::new();
    for row in rows {
        let (name, table): (String, String) = (row.get("name"), row.get("tbl_name"));
        let unique = sqlx::query(&format!("PRAGMA index_list(\"{table}\")"))
            .fetch_all(&pool)
            .await
            .expect("index list")
            .iter()
            .any(|r| r.get::<String, _>("name") == name && r.get::<i64, _>("unique") == 1);
        indexes.insert((name, table, unique));
    }
    Schema { tables, indexes }
}

async fn postgres_schema(pool: &sqlx::PgPool) -> Schema {
    let columns = sqlx::query(
        "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(pool)
    .await
    .expect("columns");
    let mut tables: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for row in columns {
        tables.entry(row.get("t")).or_default().0.push(row.get("c"));
    }
    let keys = sqlx::query(
        "SELECT k.table_name::text AS t, k.column_name::text AS c
         FROM information_schema.table_constraints tc
         JOIN information_schema.key_column_usage k
           ON k.constraint_name = tc.constraint_name AND k.table_schema = tc.table_schema
         WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = current_schema()
         ORDER BY k.table_name, k.ordinal_position",
    )
    .fetch_all(pool)
    .await
    .expect("keys");
    for row in keys {
        if let Some(table) = tables.get_mut(&row.get::<String, _>("t")) {
            table.1.push(row.get("c"));
        }
    }
    let rows = sqlx::query(
        "SELECT i.relname::text AS name, t.relname::text AS t, x.indisunique AS u
         FROM pg_index x
         JOIN pg_class i ON i.oid = x.indexrelid
         JOIN pg_class t ON t.oid = x.indrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE n.nspname = current_schema() AND t.relname <> '_sqlx_migrations'
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)",
    )
    .fetch_all(pool)
    .await
    .expect("indexes");
    let indexes = rows
        .iter()
        .map(|r| (r.get("name"), r.get("t"), r.get("u")))
        .collect();
    Schema { tables, indexes }
}

/// Both directories of migrations make one schema: the same tables, columns in the same order,
/// primary keys and named indexes. A migration added to one directory and not the other fails
/// here.
#[tokio::test]
async fn the_postgres_schema_is_the_sqlite_schema() {
    let Some(url) = postgres::database("the_postgres_schema_is_the_sqlite_schema").await else {
        return;
    };
    let pool = switchboard::store::postgres::open(&url)
        .await
        .expect("migrations apply on PostgreSQL");
    let (sqlite, postgres) = (sqlite_schema().await, postgres_schema(&pool).await);
    assert!(sqlite.tables.len() > 30, "{:?}", sqlite.tables.keys());
    for (table, sqlite_table) in &sqlite.tables {
        assert_eq!(
            Some(sqlite_table),
            postgres.tables.get(table),
            "table {table}: SQLite, then PostgreSQL"
        );
    }
    assert_eq!(
        sqlite.tables.keys().collect::<Vec<_>>(),
        postgres.tables.keys().collect::<Vec<_>>()
    );
    assert_eq!(sqlite.indexes, postgres.indexes);
}

/// Three instances starting at once on a new database: each applies or finds every migration,
/// none fails halfway, and each migration is recorded once.
#[tokio::test]
async fn instances_starting_together_migrate_a_postgres_database_once() {
    let Some(url) =
        postgres::database("instances_starting_together_migrate_a_postgres_database_once").await
    else {
        return;
    };
    let starts: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { switchboard::store::postgres::open(&url).await })
        })
        .collect();
    let mut pools = Vec::new();
    for start in starts {
        pools.push(start.await.expect("join").expect("every instance starts"));
    }
    let (applied, distinct): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT version) FROM _sqlx_migrations WHERE success",
    )
    .fetch_one(&pools[0])
    .await
    .expect("migrations");
    assert_eq!(applied, distinct);
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .expect("migrations/postgres")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    assert_eq!(applied, files as i64);
}

/// Two instances on one PostgreSQL database: the first owns the tenants, the second knows it
/// as the owner. When the owner stops renewing its lease (a paused process), the second ends
/// its sessions once the lease has passed and takes over with a higher epoch; the former owner's
/// next write transaction is refused, and it learns that it lost the lease.
#[tokio::test]
async fn a_paused_owner_is_taken_over_when_its_lease_passes_and_its_writes_are_refused() {
    use switchboard::cluster::{Cluster, application_name, new_instance_id};
    use switchboard::store::Db;
    let Some(url) = postgres::database("a_paused_owner_is_taken_over").await else {
        return;
    };
    let lease = Duration::from_secs(3);
    let join = |instance: String| {
        let url = url.clone();
        async move {
            let (db, _) = switchboard::store::connect_to_serve(&url, &application_name(&instance))
                .await
                .expect("an instance starts");
            let Db::Postgres(pool, fence, _) = db.clone() else {
                panic!("a postgres:// URL opens PostgreSQL");
            };
            let cluster = Cluster::join(
                pool,
                fence,
                instance.clone(),
                format!("http://{instance}"),
                lease,
            )
            .await
            .expect("joins");
            (db, cluster)
        }
    };
    let (first_db, first) = join(new_instance_id()).await;
    let (_second_db, second) = join(new_instance_id()).await;
    assert!(
        first.try_take().await.expect("take"),
        "the first instance owns the tenants"
    );
    assert!(
        !second.try_take().await.expect("take"),
        "only one instance owns them"
    );
    second.refresh().await.expect("lease");
    let owner = second.owner().expect("an owner");
    assert_eq!(
        (owner.instance.as_str(), owner.epoch),
        (first.instance(), 1)
    );
    assert!(second.is_ready() && first.is_ready());

    // The owner writes, fenced by its epoch.
    let mut tx = switchboard::store::begin_write(&first_db)
        .await
        .expect("the owner writes");
    switchboard::db!(tx.conn(), |c| sqlx::query(
        "UPDATE cluster_lease SET advertise_url = advertise_url"
    )
    .execute(c)
    .await
    .map(|_| ())
    .expect("write"));
    tx.commit().await.expect("commit");

    // The owner never renews (paused): the second takes over once the lease has passed.
    let started = Instant::now();
    let stop = tokio_util::sync::CancellationToken::new();
    let taken = tokio::time::timeout(Duration::from_secs(15), second.wait_to_own(&stop))
        .await
        .expect("a takeover within the lease and a heartbeat")
        .expect("takes over");
    assert!(taken);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2),
        "taken over before the lease passed: {waited:?}"
    );
    assert_eq!(second.epoch(), Some(2));

    // The former owner comes back: its writes are refused, and it knows it lost the lease.
    let refused = switchboard::store::begin_write(&first_db).await;
    let Err(error) = refused else {
        panic!("a former owner's write transaction must be refused");
    };
    assert!(
        first.lost().is_cancelled(),
        "the former owner learns that it lost the lease (its write failed with: {error})"
    );
    assert!(!first.is_owner());
    second.release().await;
}
