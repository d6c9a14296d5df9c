//! Workloads that are other programs: `/usr/bin/python3` and `sqlite3`. The process execs the
//! program, so the preloaded allocator, the pid and the resource usage carry over.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{self, Command};

use crate::util::Rng;

/// The allocation-heavy Python script (dicts, lists, strings, objects).
const PYTHON_SCRIPT: &str = include_str!("workload.py");

/// Runs the embedded script with `/usr/bin/python3` and `PYTHONMALLOC=malloc`, so Python's small
/// objects reach the allocator. Never returns.
pub fn python(quick: bool) -> u64 {
    let err = Command::new("/usr/bin/python3")
        .arg("-S")
        .arg("-c")
        .arg(PYTHON_SCRIPT)
        .arg(if quick { "quick" } else { "full" })
        .env("PYTHONMALLOC", "malloc")
        .env("PYTHONHASHSEED", "0")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .exec();
    eprintln!("oxalloc-workload: cannot run /usr/bin/python3: {err} (install python3)");
    process::exit(127);
}

/// Runs `sqlite3 :memory:` on generated SQL fed through stdin. Never returns.
pub fn sqlite(quick: bool) -> u64 {
    let sql = generate_sql(quick);
    let path = std::env::temp_dir().join(format!("oxalloc-bench-sqlite-{}.sql", process::id()));
    let file = fs::write(&path, sql).and_then(|()| File::open(&path));
    let _ = fs::remove_file(&path);
    let file = match file {
        Ok(f) => f,
        Err(e) => {
            eprintln!("oxalloc-workload: cannot write {}: {e}", path.display());
            process::exit(1);
        }
    };
    let program = if Path::new("/usr/bin/sqlite3").exists() {
        "/usr/bin/sqlite3"
    } else {
        "sqlite3"
    };
    let err = Command::new(program)
        .arg("-batch")
        .arg(":memory:")
        .stdin(file)
        .exec();
    eprintln!("oxalloc-workload: cannot run sqlite3: {err} (install sqlite3)");
    process::exit(127);
}

const WORDS: [&str; 16] = [
    "apple", "birch", "cedar", "delta", "ember", "fjord", "grape", "heron", "iris", "jade", "kiwi",
    "lemon", "maple", "nectar", "olive", "pearl",
];

/// Inserts in transactions, indexes, queries, updates, deletes, a join and an aggregate; the
/// output depends only on the data.
fn generate_sql(quick: bool) -> String {
    let rows = if quick { 6_000 } else { 60_000 };
    let mut rng = Rng::new(7);
    let mut s = String::with_capacity(rows * 120);
    s.push_str(
        "PRAGMA cache_size = -8000;\n\
         CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, category INTEGER, \
         price REAL, payload TEXT);\n\
         CREATE TABLE tags(item_id INTEGER, tag TEXT);\n",
    );
    for batch in 0..rows / 1000 {
        s.push_str("BEGIN;\n");
        for i in 0..1000 {
            let id = batch * 1000 + i + 1;
            let name = format!(
                "{}-{}-{}",
                WORDS[rng.below(16) as usize],
                WORDS[rng.below(16) as usize],
                rng.below(100_000)
            );
            let payload: String = (0..rng.range(10, 200))
                .map(|_| (b'a' + rng.below(26) as u8) as char)
                .collect();
            let _ = writeln!(
                s,
                "INSERT INTO items VALUES({id}, '{name}', {}, {}.{:02}, '{payload}');",
                rng.below(50),
                rng.below(1000),
                rng.below(100)
            );
            if i % 3 == 0 {
                let _ = writeln!(
                    s,
                    "INSERT INTO tags VALUES({id}, '{}');",
                    WORDS[rng.below(16) as usize]
                );
            }
        }
        s.push_str("COMMIT;\n");
    }
    s.push_str(
        "CREATE INDEX items_name ON items(name);\n\
         CREATE INDEX items_cat ON items(category, price);\n\
         CREATE INDEX tags_item ON tags(item_id);\n\
         SELECT count(*), round(sum(price), 2) FROM items;\n\
         SELECT category, count(*), round(avg(price), 2), max(length(payload)) FROM items \
         GROUP BY category ORDER BY category;\n",
    );
    for _ in 0..rows / 100 {
        let _ = writeln!(
            s,
            "SELECT count(*), round(total(price), 2) FROM items WHERE name >= '{a}-{b}' AND name < '{a}-{b}~';",
            a = WORDS[rng.below(16) as usize],
            b = WORDS[rng.below(16) as usize]
        );
        let _ = writeln!(
            s,
            "SELECT count(*) FROM items WHERE category = {} AND price BETWEEN {} AND {};",
            rng.below(50),
            rng.below(500),
            500 + rng.below(500)
        );
    }
    s.push_str(
        "SELECT t.tag, count(*), round(avg(i.price), 2), sum(length(i.payload)) FROM tags t \
         JOIN items i ON i.id = t.item_id GROUP BY t.tag ORDER BY t.tag;\n\
         BEGIN;\n\
         UPDATE items SET price = price * 1.1, payload = payload || upper(substr(payload, 1, 20)) \
         WHERE id % 7 = 0;\n\
         DELETE FROM items WHERE id % 5 = 0;\n\
         DELETE FROM tags WHERE item_id % 5 = 0;\n\
         COMMIT;\n\
         SELECT group_concat(name, ',') IS NOT NULL, length(group_concat(payload, '')) FROM \
         (SELECT name, payload FROM items ORDER BY payload LIMIT 5000);\n\
         SELECT count(DISTINCT substr(payload, 1, 3)) FROM items;\n\
         SELECT category, count(*), round(total(price), 2) FROM items GROUP BY category \
         ORDER BY 3 DESC LIMIT 5;\n\
         SELECT count(*), round(sum(price), 2), sum(length(payload)) FROM items;\n",
    );
    s
}
