//! The two store backends for the CLI's store tests: an SQLite file, and a
//! fresh database on the throwaway PostgreSQL cluster `scripts/test.sh`
//! starts (its URL in `OBSCURA_TEST_PG`). The same rules as the root test
//! crate's: no cluster is a failure that says how to get one, and
//! `OBSCURA_TEST_PG=off` tests SQLite only, saying so.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

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

/// A new database: `dir/name`, or a fresh database's URL.
pub fn test_db(dir: &Path, name: &str, backend: Backend) -> PathBuf {
    if backend == Backend::Sqlite {
        return dir.join(name);
    }
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let base = std::env::var("OBSCURA_TEST_PG").expect("OBSCURA_TEST_PG is set");
    let db = format!(
        "cli{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let mut c =
        postgres::Client::connect(&base, postgres::NoTls).expect("connect to the test cluster");
    c.batch_execute(&format!("CREATE DATABASE {db}"))
        .expect("create a test database");
    let (server, _) = base.rsplit_once('/').expect("a URL with a database");
    PathBuf::from(format!("{server}/{db}"))
}

/// Runs `sql` on `db` directly, bypassing Obscura.
pub fn raw_sql(db: &Path, sql: &str) -> Result<(), String> {
    let s = db.to_string_lossy();
    if s.starts_with("postgres://") {
        let mut c = postgres::Client::connect(&s, postgres::NoTls).map_err(|e| e.to_string())?;
        c.batch_execute(sql).map_err(|e| e.to_string())
    } else {
        let c = rusqlite::Connection::open(db).map_err(|e| e.to_string())?;
        c.execute_batch(sql).map_err(|e| e.to_string())
    }
}
