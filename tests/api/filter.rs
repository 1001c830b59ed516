//! The filter engine against sift.js itself: seeded random query objects and documents, judged
//! by sift 17.1.4 (one node process), by `Filter::matches`, and by the SQL compilation on a real
//! table — every pair must agree. `CASTELLAN_SIFT_SEED=n` replays a run.

use std::collections::HashSet;
use std::time::Instant;

use castellan::db::Db;
use castellan::filter::{ColumnKind, Dialect, FieldMap, Filter, Location};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use serde_json::{Map, Value, json};

use crate::support::{Backend, TestDb};

diesel::table! {
    filter_docs (id) {
        id -> Integer,
        doc -> Text,
        i -> Nullable<Integer>,
        s -> Nullable<Text>,
        b -> Nullable<Bool>,
    }
}

/// Queries of the run over the JSON column (about 2,200 that sift accepts), and of the run with
/// typed columns.
const QUERIES: usize = 2_400;
const COLUMN_QUERIES: usize = 500;
const DOCUMENTS: usize = 100;

/// splitmix64: small, seedable, good enough to pick shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

/// Scalars of mixed types, among them strings that JavaScript's comparisons coerce to numbers
/// (`"1"`, `""`, `"0x1"`) and values that are equal as doubles (`1`, `1.0`).
fn scalars() -> Vec<Value> {
    vec![
        json!(null),
        json!(true),
        json!(false),
        json!(0),
        json!(1),
        json!(2),
        json!(-1),
        json!(1.5),
        json!(1.0),
        json!("a"),
        json!("A"),
        json!("b"),
        json!("ab"),
        json!("B"),
        json!(""),
        json!("1"),
        json!("0x1"),
        json!("a,b"),
        json!("é"),
        // Ordered differently by code point (SQL) and by UTF-16 unit (JavaScript).
        json!("\u{FF21}"),
        json!("\u{1F600}"),
    ]
}

/// The shape of the documents of a run.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// Everything in the JSON column.
    Json,
    /// `i`, `s`, `b` are also typed columns (INTEGER, TEXT, BOOLEAN), always present.
    Columns,
}

const INNER: &[&str] = &["x", "y", "a"];

/// Missing keys, null, scalars, arrays of scalars, arrays of objects, empty and nested arrays,
/// nested objects, mixed types.
fn gen_value(rng: &mut Rng, depth: usize) -> Value {
    let roll = rng.below(100);
    if depth >= 3 || roll < 40 {
        return rng.pick(&scalars());
    }
    if roll < 55 {
        // An array of objects.
        let n = rng.below(4);
        return Value::Array((0..n).map(|_| gen_object(rng, depth + 1)).collect());
    }
    if roll < 78 {
        let n = rng.below(4);
        Value::Array((0..n).map(|_| gen_value(rng, depth + 1)).collect())
    } else {
        gen_object(rng, depth)
    }
}

fn gen_object(rng: &mut Rng, depth: usize) -> Value {
    let mut map = Map::new();
    for key in INNER {
        if rng.chance(55) {
            map.insert((*key).into(), gen_value(rng, depth + 1));
        }
    }
    Value::Object(map)
}

fn gen_document(rng: &mut Rng, shape: Shape) -> Value {
    let mut map = Map::new();
    let json_keys: &[&str] = match shape {
        Shape::Json => &["a", "b", "c"],
        Shape::Columns => &["a", "c"],
    };
    for key in json_keys {
        if rng.chance(80) {
            map.insert((*key).into(), gen_value(rng, 0));
        }
    }
    if shape == Shape::Columns {
        let i = if rng.chance(25) {
            json!(null)
        } else {
            json!(rng.below(4) as i64 - 1)
        };
        let s = if rng.chance(25) {
            json!(null)
        } else {
            rng.pick(&[json!("a"), json!("A"), json!("b"), json!("ab"), json!("")])
        };
        let b = if rng.chance(25) {
            json!(null)
        } else {
            json!(rng.chance(50))
        };
        map.insert("i".into(), i);
        map.insert("s".into(), s);
        map.insert("b".into(), b);
    }
    Value::Object(map)
}

/// Every value found inside the documents (whole arrays and objects too): operands drawn from
/// them make whole-array and whole-object equality hit.
fn sub_values(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| sub_values(v, out)),
        Value::Object(map) => map.values().for_each(|v| sub_values(v, out)),
        _ => return,
    }
    out.push(value.clone());
}

/// Generates queries over one run's documents.
struct Gen<'a> {
    rng: Rng,
    shape: Shape,
    /// Arrays and objects of the documents.
    found: &'a [Value],
    /// The query being generated keeps to what SQL answers exactly (scalar operands, no numeric
    /// segment, no `$and`/`$or` inside `$elemMatch`), so that the SQL alone is judged often.
    plain: bool,
}

impl Gen<'_> {
    fn path(&mut self, first: &[&str]) -> String {
        let mut path = self.rng.pick(first).to_string();
        let extra = match self.rng.below(10) {
            0..=3 => 0,
            4..=7 => 1,
            _ => 2,
        };
        for _ in 0..extra {
            path.push('.');
            // Numeric segments index arrays (and strings).
            if !self.plain && self.rng.chance(15) {
                path.push_str(self.rng.pick(&["0", "1", "2"]));
            } else {
                path.push_str(self.rng.pick(INNER));
            }
        }
        path
    }

    /// A scalar, an array or an object: made up, or one found in the documents (an object's
    /// keys then sometimes shuffled, or one key dropped or set to null).
    fn operand(&mut self) -> Value {
        if self.plain {
            return self.rng.pick(&scalars());
        }
        match self.rng.below(100) {
            0..=64 => self.rng.pick(&scalars()),
            65..=84 if !self.found.is_empty() => {
                let mut found = self.rng.pick(self.found);
                if let Value::Object(map) = &mut found
                    && !map.is_empty()
                {
                    let mut entries: Vec<(String, Value)> =
                        std::mem::take(map).into_iter().collect();
                    match self.rng.below(4) {
                        0 => {
                            entries.pop();
                        }
                        1 => entries[0].1 = json!(null),
                        2 => entries.reverse(),
                        _ => {}
                    }
                    *map = entries.into_iter().collect();
                }
                found
            }
            85..=92 => {
                let n = self.rng.below(3);
                Value::Array((0..n).map(|_| self.rng.pick(&scalars())).collect())
            }
            _ => {
                let mut map = Map::new();
                for key in INNER {
                    if self.rng.chance(40) {
                        map.insert((*key).into(), self.rng.pick(&scalars()));
                    }
                }
                Value::Object(map)
            }
        }
    }

    fn ops(&mut self, depth: usize) -> Map<String, Value> {
        let mut ops = Map::new();
        for _ in 0..1 + self.rng.below(2) {
            let (name, operand) = match self.rng.below(if depth < 3 { 13 } else { 11 }) {
                0 => ("$eq", self.operand()),
                1 => ("$ne", self.operand()),
                2 => (
                    "$eqi",
                    self.rng
                        .pick(&[json!("a"), json!("A"), json!("ab"), json!("AB"), json!("b")]),
                ),
                3 | 4 => {
                    let name = if self.rng.chance(50) { "$in" } else { "$nin" };
                    let operand = if self.rng.chance(10) {
                        // sift takes a single value as a list of one.
                        self.operand()
                    } else {
                        let n = self.rng.below(4);
                        Value::Array((0..n).map(|_| self.operand()).collect())
                    };
                    (name, operand)
                }
                5..=8 => {
                    let name = self.rng.pick(&["$lt", "$lte", "$gt", "$gte"]);
                    let operand = if self.plain || self.rng.chance(70) {
                        self.rng.pick(
                            &[
                                json!(0),
                                json!(1),
                                json!(1.5),
                                json!(-1),
                                json!("a"),
                                json!("B"),
                                json!("ab"),
                                json!(""),
                                json!(true),
                                json!(false),
                                json!(null),
                            ][..if self.plain { 10 } else { 11 }],
                        )
                    } else {
                        self.operand()
                    };
                    (name, operand)
                }
                9 | 10 => {
                    let operand = if self.rng.chance(70) {
                        json!(self.rng.chance(50))
                    } else {
                        self.rng
                            .pick(&[json!(0), json!(1), json!(""), json!("x"), json!(null)])
                    };
                    ("$exists", operand)
                }
                _ => ("$elemMatch", self.elem_match(depth + 1)),
            };
            ops.insert(name.into(), operand);
        }
        ops
    }

    /// Operators on each element, a query on each element's fields, or both, with `$and`/`$or`.
    fn elem_match(&mut self, depth: usize) -> Value {
        let mut query = match self.rng.below(3) {
            0 => self.ops(depth),
            _ => Map::new(),
        };
        for _ in 0..self.rng.below(3) {
            let path = self.path(INNER);
            let value = self.field_value(depth);
            query.insert(path, value);
        }
        if !self.plain && self.rng.chance(25) {
            let group = if self.rng.chance(50) { "$and" } else { "$or" };
            let n = 1 + self.rng.below(2);
            let branches = (0..n).map(|_| self.elem_branch(depth + 1)).collect();
            query.insert(group.into(), Value::Array(branches));
        }
        Value::Object(query)
    }

    fn elem_branch(&mut self, depth: usize) -> Value {
        if self.rng.chance(10) {
            return self.rng.pick(&scalars());
        }
        if self.rng.chance(50) {
            return Value::Object(self.ops(depth));
        }
        let mut query = Map::new();
        let path = self.path(INNER);
        let value = self.field_value(depth);
        query.insert(path, value);
        Value::Object(query)
    }

    fn field_value(&mut self, depth: usize) -> Value {
        if self.rng.chance(25) {
            self.operand()
        } else {
            Value::Object(self.ops(depth))
        }
    }

    fn query(&mut self, depth: usize) -> Value {
        let first: &[&str] = match self.shape {
            Shape::Json => &["a", "b", "c"],
            Shape::Columns => &["i", "s", "b", "i", "s", "b", "a", "c"],
        };
        let mut query = Map::new();
        for _ in 0..1 + self.rng.below(2) {
            let roll = self.rng.below(100);
            if depth < 2 && roll < 20 {
                let group = if self.rng.chance(50) { "$and" } else { "$or" };
                let n = 1 + self.rng.below(3);
                let branches = (0..n).map(|_| self.query(depth + 1)).collect();
                query.insert(group.into(), Value::Array(branches));
            } else if roll < 22 && !self.plain {
                // Operators on the document itself.
                query.extend(self.ops(depth));
            } else if roll < 25 && !self.plain {
                // What sift refuses, which Castellan must refuse too.
                let path = self.path(first);
                let (key, value) = self.rng.pick(&[
                    (path.clone(), json!({"$eq": 1, "x": 2})),
                    (path.clone(), json!({"$or": [{"x": 1}]})),
                    (path.clone(), json!({"$in": [{"$gt": 1}]})),
                    (path.clone(), json!({"$nin": {"$eq": 1}})),
                    (path.clone(), json!({"$foo": 1})),
                    (path.clone(), json!({"$elemMatch": 5})),
                    (path.clone(), json!({"$elemMatch": null})),
                    (
                        path.clone(),
                        json!({"$elemMatch": {"x": {"$ne": 1, "y": 1}}}),
                    ),
                    ("$and".to_string(), json!([])),
                    ("$or".to_string(), json!({"x": 1})),
                    ("$or".to_string(), json!("ab")),
                    ("$bar".to_string(), json!(1)),
                ]);
                query.insert(key, value);
            } else {
                // Columns hold scalars: a path under one of them is not a field of the table.
                let path = match self.shape {
                    Shape::Columns if self.rng.chance(60) => {
                        self.rng.pick(&["i", "s", "b"]).to_string()
                    }
                    _ => self.path(first),
                };
                let value = self.field_value(depth);
                query.insert(path, value);
            }
        }
        Value::Object(query)
    }
}

/// Paths of the run's table: the typed columns (second run only), else the JSON column. On
/// PostgreSQL the first run reads the document from a generated `jsonb` column, the second casts
/// its text, so the differential test covers both.
struct DocsTable {
    shape: Shape,
}

impl DocsTable {
    fn jsonb(&self) -> Option<String> {
        (self.shape == Shape::Json).then(|| "filter_docs.doc_jsonb".into())
    }
}

impl FieldMap for DocsTable {
    fn locate(&self, path: &[&str]) -> Option<Location> {
        let column = |sql: &str, kind| {
            Some(Location::Column {
                sql: sql.into(),
                kind,
            })
        };
        match (self.shape, path) {
            (Shape::Columns, ["i"]) => column("filter_docs.i", ColumnKind::Integer),
            (Shape::Columns, ["s"]) => column("filter_docs.s", ColumnKind::Text),
            (Shape::Columns, ["b"]) => column("filter_docs.b", ColumnKind::Bool),
            _ => Some(Location::Json {
                column_sql: "filter_docs.doc".into(),
                path: path.iter().map(|s| s.to_string()).collect(),
                jsonb: self.jsonb(),
            }),
        }
    }
}

/// sift's verdicts for each query: `documents.len()` booleans, or the message of sift's refusal.
fn sift_verdicts(queries: &[Value], documents: &[Value]) -> Vec<Result<Vec<bool>, String>> {
    let verdicts = crate::peers::sift_eval(&json!({ "queries": queries, "documents": documents }));
    assert_eq!(verdicts.len(), queries.len() * documents.len());
    verdicts
        .chunks(documents.len().max(1))
        .map(|row| {
            row.iter()
                .map(|v| v.as_bool().ok_or_else(|| v["error"].to_string()))
                .collect()
        })
        .collect()
}

struct Run {
    queries: Vec<Value>,
    /// The queries sift accepts, parsed (sift refused the others, and so did Castellan).
    filters: Vec<(usize, Filter)>,
    documents: Vec<Value>,
    /// sift's verdicts on the accepted queries, query-major.
    sift: Vec<bool>,
}

impl Run {
    fn generate(seed: u64, shape: Shape) -> Self {
        let mut rng = Rng(seed ^ if shape == Shape::Json { 0 } else { 0xC0FFEE });
        let documents: Vec<Value> = (0..DOCUMENTS)
            .map(|_| gen_document(&mut rng, shape))
            .collect();
        let mut found = Vec::new();
        for document in &documents {
            sub_values(document, &mut found);
        }
        let mut generator = Gen {
            rng,
            shape,
            found: &found,
            plain: false,
        };
        let count = match shape {
            Shape::Json => QUERIES,
            Shape::Columns => COLUMN_QUERIES,
        };
        let queries: Vec<Value> = (0..count)
            .map(|i| {
                generator.plain = i % 3 == 0;
                generator.query(0)
            })
            .collect();
        let verdicts = sift_verdicts(&queries, &documents);
        let mut filters = Vec::new();
        let mut sift = Vec::new();
        for (i, (query, verdict)) in queries.iter().zip(verdicts).enumerate() {
            match (Filter::parse(query), verdict) {
                (Ok(filter), Ok(verdicts)) => {
                    filters.push((i, filter));
                    sift.extend(verdicts);
                }
                (Err(_), Err(_)) => {}
                (Err(e), Ok(_)) => panic!(
                    "sift accepts {query}, Castellan refuses it: {e} (CASTELLAN_SIFT_SEED={seed})"
                ),
                (Ok(_), Err(e)) => panic!(
                    "sift refuses {query} ({e}), Castellan accepts it (CASTELLAN_SIFT_SEED={seed})"
                ),
            }
        }
        Self {
            queries,
            filters,
            documents,
            sift,
        }
    }

    /// Fails with the first few disagreements of `ours` (query-major verdicts) with sift.
    fn check(&self, engine: &str, seed: u64, ours: &[bool]) {
        let mismatches: Vec<String> = ours
            .iter()
            .zip(&self.sift)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(k, (ours, sift))| {
                format!(
                    "  query {}\n  doc   {}\n  sift {sift}, {engine} {ours}",
                    self.queries[self.filters[k / DOCUMENTS].0],
                    self.documents[k % DOCUMENTS]
                )
            })
            .collect();
        assert!(
            mismatches.is_empty(),
            "{engine} disagrees with sift on {} of {} pairs (CASTELLAN_SIFT_SEED={seed}):\n{}",
            mismatches.len(),
            ours.len(),
            mismatches
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n\n")
        );
    }

    fn in_memory(&self) -> Vec<bool> {
        self.filters
            .iter()
            .flat_map(|(_, f)| self.documents.iter().map(move |d| f.matches(d)))
            .collect()
    }

    /// The rows each filter's SQL selects, then passed through its residue in memory, as the
    /// users' lists do; and how many filters compiled exactly.
    async fn in_database(&self, backend: Backend, shape: Shape) -> (Vec<bool>, usize) {
        let (_db, url) = TestDb::create(backend).await;
        let db = Db::connect(&url, Some(1)).expect("pool");
        // PostgreSQL's walks call `castellan_walk`, which a migration creates.
        db.migrate().await.expect("migrations");
        let mut conn = db.conn().await.expect("connection");
        if let castellan::db::Conn::Postgres(c) = &mut conn {
            // See `SqlFilter`: the planner overestimates the walks and JIT-compiles each query.
            c.batch_execute("SET jit = off").await.expect("SET jit");
        }
        // SQLite ignores `Location::Json::jsonb`; PostgreSQL keeps the parsed document beside
        // the text, as `up_users.attributes_jsonb` does.
        let parsed = match backend {
            Backend::Sqlite => "",
            Backend::Postgres => ", doc_jsonb JSONB GENERATED ALWAYS AS (doc::jsonb) STORED",
        };
        let create = format!(
            "CREATE TABLE filter_docs (id INTEGER PRIMARY KEY, doc TEXT NOT NULL, i INTEGER, s TEXT, b BOOLEAN{parsed})"
        );
        castellan::on_conn!(&mut conn, |c| {
            c.batch_execute(&create).await.expect("create table");
            for (id, doc) in self.documents.iter().enumerate() {
                diesel::insert_into(filter_docs::table)
                    .values((
                        filter_docs::id.eq(id as i32),
                        filter_docs::doc.eq(doc.to_string()),
                        filter_docs::i.eq(doc["i"].as_i64().map(|i| i as i32)),
                        filter_docs::s.eq(doc["s"].as_str()),
                        filter_docs::b.eq(doc["b"].as_bool()),
                    ))
                    .execute(c)
                    .await
                    .expect("insert");
            }
        });
        let dialect = match backend {
            Backend::Sqlite => Dialect::Sqlite,
            Backend::Postgres => Dialect::Postgres,
        };
        let table = DocsTable { shape };
        let mut verdicts = Vec::with_capacity(self.sift.len());
        let mut exact = 0;
        for (i, filter) in &self.filters {
            let query = &self.queries[*i];
            let sql = filter.to_sql(dialect, &table).expect("compiles");
            let ids: Vec<i32> = castellan::on_conn!(&mut conn, |c| {
                filter_docs::table
                    .select(filter_docs::id)
                    .filter(sql.clone())
                    .load(c)
                    .await
            })
            .unwrap_or_else(|e| panic!("{query} fails in SQL: {e}"));
            let ids: HashSet<i32> = ids.into_iter().collect();
            let residue = sql.residue();
            exact += usize::from(residue.is_none());
            verdicts.extend((0..DOCUMENTS).map(|id| {
                ids.contains(&(id as i32))
                    && residue.is_none_or(|residue| residue.matches(&self.documents[id]))
            }));
        }
        (verdicts, exact)
    }
}

fn seed() -> u64 {
    let seed = ["CASTELLAN_SIFT_SEED", "CASTELLAN_FILTER_SEED"]
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("filter differential test: CASTELLAN_SIFT_SEED={seed}");
    seed
}

/// Queries generated over every shape of the language (whole-array and whole-object operands,
/// numeric path segments, `$and`/`$or` and operators beside fields inside `$elemMatch`,
/// comparisons with booleans, null, arrays and objects, arrays inside `$in`/`$nin`, operators
/// on the document itself), judged by sift 17.1.4, by `Filter::matches` and by the SQL
/// compilation (plus its residue in memory) on a real table: every query sift accepts must be
/// accepted, and every verdict must agree.
async fn agree_with_sift(backend: Backend) {
    let started = Instant::now();
    // One run in the suite; `bench/fuzz.sh` (`CASTELLAN_FUZZ_SECONDS`) keeps generating runs of
    // fresh seeds, each printed, for that long.
    let budget = std::env::var("CASTELLAN_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    let mut seed = seed();
    let mut pairs = 0;
    loop {
        for shape in [Shape::Json, Shape::Columns] {
            let run = tokio::task::spawn_blocking(move || Run::generate(seed, shape))
                .await
                .unwrap();
            run.check("in-memory", seed, &run.in_memory());
            let name = format!("{backend:?}");
            let (verdicts, exact) = run.in_database(backend, shape).await;
            run.check(&name, seed, &verdicts);
            pairs += run.sift.len();
            let matched = run.sift.iter().filter(|m| **m).count();
            println!(
                "{} queries ({} refused by both), {exact} exact in SQL; {pairs} pairs so far, {matched} matches in this run",
                run.queries.len(),
                run.queries.len() - run.filters.len(),
            );
        }
        match budget {
            Some(seconds) if started.elapsed().as_secs() < seconds => {
                seed = seed.wrapping_add(1);
                println!("filter differential test, next run: CASTELLAN_SIFT_SEED={seed}");
            }
            _ => break,
        }
    }
    println!(
        "{backend:?}: {pairs} (query, document) pairs agree with sift.js in {:.1?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_engine_agrees_with_sift_sqlite() {
    agree_with_sift(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_engine_agrees_with_sift_postgres() {
    agree_with_sift(Backend::Postgres).await;
}

diesel::table! {
    filter_times (id) {
        id -> Integer,
        t -> Nullable<Timestamp>,
    }
}

struct TimesTable;

impl FieldMap for TimesTable {
    fn locate(&self, path: &[&str]) -> Option<Location> {
        (path == ["t"]).then(|| Location::Column {
            sql: "filter_times.t".into(),
            kind: ColumnKind::Timestamp,
        })
    }
}

/// Timestamp columns compare as chrono's `%F %T%.f` text on both backends, like the documents
/// that carry them in memory; numbers never match them.
async fn timestamps_compare_as_text(backend: Backend) {
    use chrono::NaiveDate;
    let at = |h, ms| {
        NaiveDate::from_ymd_opt(2024, 1, 2)
            .and_then(|d| d.and_hms_milli_opt(h, 4, 5, ms))
            .unwrap()
    };
    let times = [
        Some(at(3, 0)),
        Some(at(3, 500)),
        Some(
            at(3, 5)
                .checked_add_signed(chrono::TimeDelta::microseconds(7))
                .unwrap(),
        ),
        Some(at(12, 0)),
        None,
    ];
    let documents: Vec<Value> = times
        .iter()
        .map(|t| json!({ "t": t.map(|t| t.format("%F %T%.f").to_string()) }))
        .collect();
    assert_eq!(documents[2]["t"], "2024-01-02 03:04:05.005007");
    let (_db, url) = TestDb::create(backend).await;
    let db = Db::connect(&url, Some(1)).expect("pool");
    let mut conn = db.conn().await.expect("connection");
    castellan::on_conn!(&mut conn, |c| {
        c.batch_execute("CREATE TABLE filter_times (id INTEGER PRIMARY KEY, t TIMESTAMP)")
            .await
            .expect("create table");
        for (id, t) in times.iter().enumerate() {
            diesel::insert_into(filter_times::table)
                .values((filter_times::id.eq(id as i32), filter_times::t.eq(t)))
                .execute(c)
                .await
                .expect("insert");
        }
    });
    let dialect = match backend {
        Backend::Sqlite => Dialect::Sqlite,
        Backend::Postgres => Dialect::Postgres,
    };
    let cases = [
        (json!({"t": "2024-01-02 03:04:05.500"}), vec![1]),
        (
            json!({"t": {"$gte": "2024-01-02 03:04:05"}}),
            vec![0, 1, 2, 3],
        ),
        (
            json!({"t": {"$gt": "2024-01-02 03:04:05", "$lt": "2024-01-02 04"}}),
            vec![1, 2],
        ),
        (
            json!({"t": {"$in": ["2024-01-02 12:04:05", null]}}),
            vec![3, 4],
        ),
        (json!({"t": {"$gt": 5}}), vec![]),
        (json!({"t": {"$ne": 5}}), vec![0, 1, 2, 3, 4]),
        (json!({"t": {"$exists": true}}), vec![0, 1, 2, 3, 4]),
        (json!({"t": {"$eqi": "2024-01-02 03:04:05"}}), vec![0]),
    ];
    for (query, expected) in cases {
        let filter = Filter::parse(&query).unwrap();
        let in_memory: Vec<usize> = (0..documents.len())
            .filter(|i| filter.matches(&documents[*i]))
            .collect();
        assert_eq!(in_memory, expected, "in memory: {query}");
        let sql = filter.to_sql(dialect, &TimesTable).unwrap();
        let mut ids: Vec<i32> = castellan::on_conn!(&mut conn, |c| {
            filter_times::table
                .select(filter_times::id)
                .filter(sql)
                .load(c)
                .await
        })
        .unwrap_or_else(|e| panic!("{query}: {e}"));
        ids.sort();
        let expected: Vec<i32> = expected.iter().map(|i| *i as i32).collect();
        assert_eq!(ids, expected, "{backend:?}: {query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_timestamp_columns_compare_as_text_sqlite() {
    timestamps_compare_as_text(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_timestamp_columns_compare_as_text_postgres() {
    timestamps_compare_as_text(Backend::Postgres).await;
}
