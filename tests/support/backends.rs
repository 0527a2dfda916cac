//! The two store backends for the store tests of every test crate (the
//! root's, the CLI's and the console's include this file with `#[path]`):
//! an SQLite file, and a fresh database on the throwaway PostgreSQL cluster
//! `scripts/test.sh` starts, whose URL it puts in `OBSCURA_TEST_PG`. No
//! cluster is a failure that says how to get one (nothing is skipped
//! silently); `OBSCURA_TEST_PG=off` tests SQLite only, and says so.
//! Standard library, `postgres` and `rusqlite` only.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

fn is_postgres_url(db: &Path) -> bool {
    let s = db.to_string_lossy();
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// A database backend the store tests run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (the embedded default).
    Sqlite,
    /// A fresh database on the throwaway PostgreSQL cluster whose URL is in
    /// `OBSCURA_TEST_PG`.
    Postgres,
}

/// The backends to run a store test on: both. Without `OBSCURA_TEST_PG`
/// the test fails and says how to get a cluster (`scripts/test.sh` starts
/// one); `OBSCURA_TEST_PG=off` asks for SQLite only, and says so.
pub fn backends() -> Vec<Backend> {
    match std::env::var("OBSCURA_TEST_PG") {
        Ok(u) if u == "off" => {
            eprintln!("note: OBSCURA_TEST_PG=off: the PostgreSQL backend is not tested");
            vec![Backend::Sqlite]
        }
        Ok(u) if !u.is_empty() => vec![Backend::Sqlite, Backend::Postgres],
        _ => panic!(
            "OBSCURA_TEST_PG is not set: the store tests run on PostgreSQL too. \
             Run `bash scripts/test.sh` (it starts a throwaway cluster), or \
             `bash scripts/pg_cluster.sh start DIR` and export the URL it prints \
             as OBSCURA_TEST_PG (OBSCURA_TEST_PG=off tests SQLite only)"
        ),
    }
}

/// Runs `test` on every backend of [`backends`], naming the backend when
/// it fails.
pub fn on_each_backend(test: impl Fn(Backend)) {
    for b in backends() {
        eprintln!("-- on {b:?}");
        test(b);
    }
}

/// A new, empty database called `name`: a file in `dir` for SQLite, a
/// fresh database (its URL) on the test cluster for PostgreSQL.
pub fn test_db(dir: &Path, name: &str, backend: Backend) -> PathBuf {
    match backend {
        Backend::Sqlite => dir.join(name),
        Backend::Postgres => {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let base = std::env::var("OBSCURA_TEST_PG").expect("OBSCURA_TEST_PG is set");
            let stem: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '_'
                    }
                })
                .take(24)
                .collect();
            let db = format!(
                "t{}_{}_{}_{stem}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0)
            );
            let mut client = postgres::Client::connect(&base, postgres::NoTls)
                .expect("connect to the test cluster");
            client
                .batch_execute(&format!("CREATE DATABASE {db}"))
                .expect("create a test database");
            let (server, _) = base.rsplit_once('/').expect("a URL with a database");
            PathBuf::from(format!("{server}/{db}"))
        }
    }
}

/// Runs `sql` on `db` directly, as someone with access to the database
/// (not through Obscura) would: the error's text when it fails.
pub fn raw_sql(db: &Path, sql: &str) -> Result<(), String> {
    if is_postgres_url(db) {
        let mut c = postgres::Client::connect(&db.to_string_lossy(), postgres::NoTls)
            .map_err(|e| e.to_string())?;
        c.batch_execute(sql).map_err(|e| match e.as_db_error() {
            Some(d) => d.message().to_string(),
            None => e.to_string(),
        })
    } else {
        let c = rusqlite::Connection::open(db).map_err(|e| e.to_string())?;
        c.execute_batch(sql).map_err(|e| e.to_string())
    }
}

/// `v` as an SQL literal both backends read.
pub fn sql_text(v: Option<&str>) -> String {
    match v {
        Some(s) => format!("'{}'", s.replace('\'', "''")),
        None => "NULL".into(),
    }
}

/// Drops trigger `name` on `table`, in either backend's syntax.
pub fn drop_trigger(db: &Path, name: &str, table: &str) {
    let sql = if is_postgres_url(db) {
        format!("DROP TRIGGER {name} ON {table}")
    } else {
        format!("DROP TRIGGER {name}")
    };
    raw_sql(db, &sql).expect("drop trigger");
}
