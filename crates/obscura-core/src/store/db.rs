//! The two database backends behind one small interface, so the index, the
//! audit trail, holds and retention are written once:
//! - **SQLite**, embedded, the default: a file, WAL journal, `BEGIN
//!   IMMEDIATE` write transactions;
//! - **PostgreSQL**, for a store many machines write at once: a
//!   `postgres://` URL. Every write transaction takes one advisory lock
//!   first (`pg_advisory_xact_lock`), so writers are serialised exactly as
//!   SQLite serialises them: the audit chain's head cannot move between
//!   reading it and appending to it, whichever machine appends.
//!
//! SQL is written once, in the dialect both accept: `?N` placeholders
//! (rewritten to `$N` for PostgreSQL), `RETURNING`, `ON CONFLICT`,
//! `CAST(.. AS ..)` around aggregates whose type differs. Values cross as
//! [`Value`]: SQLite's five storage classes, which PostgreSQL's columns
//! (`BIGINT`, `DOUBLE PRECISION`, `TEXT`, `BYTEA`) map onto one to one.
//! Only the schema's DDL differs per backend (see the store's migrations).

use postgres_types::{FromSql, IsNull, ToSql, Type};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// A database failure, as text (the backend's own message).
#[derive(Debug, Clone)]
pub(crate) struct DbError(pub(crate) String);

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError(e.to_string())
    }
}

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            return DbError(format!("{}: {}", db.severity(), db.message()));
        }
        let mut msg = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            source = s.source();
        }
        DbError(msg)
    }
}

pub(crate) type DbResult<T> = std::result::Result<T, DbError>;

/// One value, in either direction.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "an integer",
            Value::Real(_) => "a real",
            Value::Text(_) => "text",
            Value::Blob(_) => "a blob",
        }
    }
}

/// What can be a query argument.
pub(crate) trait ToValue {
    fn to_value(&self) -> Value;
}

macro_rules! int_to_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int_to_value!(i64, i32, u32, u64, usize);

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}
impl ToValue for f32 {
    fn to_value(&self) -> Value {
        Value::Real(f64::from(*self))
    }
}
impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl ToValue for std::borrow::Cow<'_, str> {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}
impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}
impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

/// Query arguments: `args![a, b, c]` takes each by reference, as
/// `rusqlite::params!` does.
macro_rules! args {
    ($($x:expr),* $(,)?) => {
        &[$($crate::store::db::ToValue::to_value(&$x)),*] as &[$crate::store::db::Value]
    };
}
pub(crate) use args;

/// What a column can be read as.
pub(crate) trait FromValue: Sized {
    const WANTED: &'static str;
    fn from_value(v: &Value) -> Option<Self>;
}

macro_rules! int_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            const WANTED: &'static str = stringify!($t);
            fn from_value(v: &Value) -> Option<Self> {
                match v {
                    Value::Int(i) => <$t>::try_from(*i).ok(),
                    _ => None,
                }
            }
        }
    )*};
}
int_from_value!(i64, u32);

impl FromValue for bool {
    const WANTED: &'static str = "a boolean";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Int(i) => Some(*i != 0),
            _ => None,
        }
    }
}
impl FromValue for f64 {
    const WANTED: &'static str = "a number";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Real(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
}
impl FromValue for String {
    const WANTED: &'static str = "text";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}
impl FromValue for Vec<u8> {
    const WANTED: &'static str = "a blob";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Blob(b) => Some(b.clone()),
            _ => None,
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    const WANTED: &'static str = T::WANTED;
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// One result row.
#[derive(Debug)]
pub(crate) struct Row(Vec<Value>);

impl Row {
    /// Column `i` as a `T`; a NULL or another type is an error (as
    /// rusqlite's `get` is), unless `T` is an `Option`.
    pub(crate) fn get<T: FromValue>(&self, i: usize) -> DbResult<T> {
        let v = self
            .0
            .get(i)
            .ok_or_else(|| DbError(format!("no column {i} in the result")))?;
        T::from_value(v).ok_or_else(|| {
            DbError(format!(
                "column {i} holds {}, expected {}",
                v.kind(),
                T::WANTED
            ))
        })
    }
}

/// PostgreSQL's wire types onto [`Value`]: any column type the schema uses
/// is accepted, and converted by what the server says it is.
impl<'a> FromSql<'a> for Value {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(match *ty {
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
            Type::OID => Value::Int(u32::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)?.into()),
            Type::BOOL => Value::Int(i64::from(bool::from_sql(ty, raw)?)),
            Type::BYTEA => Value::Blob(raw.to_vec()),
            _ if <&str as FromSql>::accepts(ty) => {
                Value::Text(<&str as FromSql>::from_sql(ty, raw)?.to_owned())
            }
            _ => return Err(format!("unsupported column type {ty} (cast it in the query)").into()),
        })
    }

    fn from_sql_null(
        _: &Type,
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Value::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// [`Value`] onto the parameter type PostgreSQL inferred for it.
impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match (self, ty) {
            (Value::Null, _) => Ok(IsNull::Yes),
            (Value::Int(i), &Type::INT8) => i.to_sql(ty, out),
            (Value::Int(i), &Type::INT4) => i32::try_from(*i)?.to_sql(ty, out),
            (Value::Int(i), &Type::INT2) => i16::try_from(*i)?.to_sql(ty, out),
            (Value::Int(i), &Type::FLOAT8) => (*i as f64).to_sql(ty, out),
            (Value::Int(i), &Type::BOOL) => (*i != 0).to_sql(ty, out),
            (Value::Real(f), &Type::FLOAT8) => f.to_sql(ty, out),
            (Value::Real(f), &Type::FLOAT4) => (*f as f32).to_sql(ty, out),
            (Value::Text(s), _) if <&str as ToSql>::accepts(ty) => s.as_str().to_sql(ty, out),
            (Value::Blob(b), &Type::BYTEA) => b.as_slice().to_sql(ty, out),
            (v, _) => Err(format!("cannot pass {} as {ty}", v.kind()).into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres_types::to_sql_checked!();
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

fn sqlite_value(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Value::Text(s.to_owned()),
            // Not text as far as anything reading it is concerned.
            Err(_) => Value::Blob(t.to_vec()),
        },
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// `?N` and `?` placeholders as PostgreSQL's `$N` (outside quoted text).
fn pg_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 0u32;
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                let mut n = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    n.push(*d);
                    chars.next();
                }
                if n.is_empty() {
                    next += 1;
                    n = next.to_string();
                }
                out.push('$');
                out.push_str(&n);
            }
            _ => out.push(c),
        }
    }
    out
}

/// The advisory lock key every PostgreSQL write transaction takes
/// ("obscura" in ASCII).
const PG_WRITE_LOCK: i64 = 0x006f_6273_6375_7261;

/// A PostgreSQL session with its prepared statements.
pub(crate) struct PgConn {
    client: RefCell<postgres::Client>,
    statements: RefCell<HashMap<String, postgres::Statement>>,
}

impl fmt::Debug for PgConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConn").finish_non_exhaustive()
    }
}

impl PgConn {
    /// Connects to `url` (a `postgres://` URL), with a 10 s connect timeout
    /// unless the URL sets one, and the password from `PGPASSWORD` unless
    /// the URL has one (so it need not show in process lists). No TLS: the store is
    /// meant for a database on a trusted network or a local socket.
    pub(crate) fn connect(url: &str) -> DbResult<PgConn> {
        let mut config: postgres::Config = url.parse().map_err(DbError::from)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_password().is_none() {
            if let Some(pw) = std::env::var_os("PGPASSWORD") {
                config.password(pw.to_string_lossy().as_bytes());
            }
        }
        if config.get_application_name().is_none() {
            config.application_name("obscura");
        }
        let client = config.connect(postgres::NoTls)?;
        Ok(PgConn {
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
        })
    }

    /// `url` as shown in messages: scheme, user, host, port, database,
    /// never the password.
    pub(crate) fn describe(url: &str) -> String {
        let Ok(config) = url.parse::<postgres::Config>() else {
            return "postgres://(unparsable URL)".into();
        };
        let host = match config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(postgres::config::Host::Unix(p)) => p.to_string_lossy().into_owned(),
            None => "localhost".into(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        format!(
            "postgres://{}@{host}:{port}/{}",
            config.get_user().unwrap_or(""),
            config.get_dbname().unwrap_or("")
        )
    }

    fn statement(&self, sql: &str) -> DbResult<postgres::Statement> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let st = self.client.borrow_mut().prepare(&pg_sql(sql))?;
        self.statements
            .borrow_mut()
            .insert(sql.to_owned(), st.clone());
        Ok(st)
    }

    fn params(args: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
        args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
    }
}

/// An open database.
#[derive(Debug)]
pub(crate) enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<PgConn>),
}

impl Conn {
    /// Whether this is the shared PostgreSQL backend.
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Conn::Postgres(_))
    }

    /// Every row of `sql`, each mapped by `f`.
    pub(crate) fn query_map<T>(
        &self,
        sql: &str,
        args: &[Value],
        mut f: impl FnMut(&Row) -> DbResult<T>,
    ) -> DbResult<Vec<T>> {
        match self {
            Conn::Sqlite(c) => {
                let mut st = c.prepare_cached(sql)?;
                let n = st.column_count();
                let mut rows = st.query(rusqlite::params_from_iter(args))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    let row = Row((0..n)
                        .map(|i| r.get_ref(i).map(sqlite_value))
                        .collect::<rusqlite::Result<_>>()?);
                    out.push(f(&row)?);
                }
                Ok(out)
            }
            Conn::Postgres(pg) => {
                let st = pg.statement(sql)?;
                let rows = pg.client.borrow_mut().query(&st, &PgConn::params(args))?;
                rows.iter()
                    .map(|r| {
                        let row = Row((0..r.len())
                            .map(|i| r.try_get::<_, Value>(i))
                            .collect::<Result<_, _>>()?);
                        f(&row)
                    })
                    .collect()
            }
        }
    }

    /// The first row of `sql`, if any.
    pub(crate) fn query_opt<T>(
        &self,
        sql: &str,
        args: &[Value],
        f: impl FnMut(&Row) -> DbResult<T>,
    ) -> DbResult<Option<T>> {
        Ok(self.query_map(sql, args, f)?.into_iter().next())
    }

    /// The first row of `sql`, which must exist.
    pub(crate) fn query_one<T>(
        &self,
        sql: &str,
        args: &[Value],
        f: impl FnMut(&Row) -> DbResult<T>,
    ) -> DbResult<T> {
        self.query_opt(sql, args, f)?
            .ok_or_else(|| DbError("the query returned no row".into()))
    }

    /// Runs one statement; the number of rows it changed.
    pub(crate) fn execute(&self, sql: &str, args: &[Value]) -> DbResult<u64> {
        match self {
            Conn::Sqlite(c) => {
                Ok(c.prepare_cached(sql)?
                    .execute(rusqlite::params_from_iter(args))? as u64)
            }
            Conn::Postgres(pg) => {
                let st = pg.statement(sql)?;
                Ok(pg.client.borrow_mut().execute(&st, &PgConn::params(args))?)
            }
        }
    }

    /// Runs statements with no arguments (DDL).
    pub(crate) fn batch(&self, sql: &str) -> DbResult<()> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres(pg) => Ok(pg.client.borrow_mut().batch_execute(sql)?),
        }
    }

    /// Begins a write transaction, serialised against every other writer
    /// (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: the advisory write lock).
    /// Dropped without [`Tx::commit`], it rolls back.
    pub(crate) fn write(&mut self) -> DbResult<Tx<'_>> {
        match self {
            Conn::Sqlite(c) => c.execute_batch("BEGIN IMMEDIATE")?,
            Conn::Postgres(pg) => {
                pg.client.get_mut().batch_execute("BEGIN")?;
                let locked = pg
                    .client
                    .get_mut()
                    .execute("SELECT pg_advisory_xact_lock($1)", &[&PG_WRITE_LOCK]);
                if let Err(e) = locked {
                    let _ = pg.client.get_mut().batch_execute("ROLLBACK");
                    return Err(e.into());
                }
            }
        }
        Ok(Tx {
            conn: self,
            open: true,
        })
    }
}

/// A write transaction; reads and writes go through it (it derefs to the
/// connection).
#[derive(Debug)]
pub(crate) struct Tx<'a> {
    conn: &'a mut Conn,
    open: bool,
}

impl Tx<'_> {
    /// Commits.
    pub(crate) fn commit(mut self) -> DbResult<()> {
        self.open = false;
        self.conn.batch("COMMIT")
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.batch("ROLLBACK");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_numbered_outside_quotes() {
        assert_eq!(
            pg_sql("SELECT a FROM t WHERE b = ?1 AND c = '?' AND d = ?12 OR e = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND d = $12 OR e = $1"
        );
        assert_eq!(pg_sql("VALUES (?, ?)"), "VALUES ($1, $2)");
    }

    #[test]
    fn rows_read_as_rusqlite_would() {
        let row = Row(vec![
            Value::Int(3),
            Value::Null,
            Value::Text("x".into()),
            Value::Int(-1),
        ]);
        assert_eq!(row.get::<i64>(0).ok(), Some(3));
        assert_eq!(row.get::<f64>(0).ok(), Some(3.0));
        assert_eq!(row.get::<Option<String>>(1).ok(), Some(None));
        assert!(row.get::<String>(1).is_err(), "NULL is not text");
        assert!(row.get::<String>(0).is_err(), "an integer is not text");
        assert!(row.get::<u32>(3).is_err(), "-1 is no camera number");
        assert!(row.get::<i64>(9).is_err());
    }
}
