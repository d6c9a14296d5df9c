//! The library's options (`oxalloc::options::OPTIONS`), as a text table for `--help`.

use oxalloc::options::OPTIONS;

/// Splits `text` into lines of at most `width` characters, at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

/// The table: one row per option (variable, default, meaning), the meaning wrapped.
pub fn table() -> String {
    let var_w = OPTIONS
        .iter()
        .map(|o| o.env.len())
        .max()
        .unwrap_or(0)
        .max("VARIABLE".len());
    let def_w = OPTIONS
        .iter()
        .map(|o| display_default(o.default).len())
        .max()
        .unwrap_or(0)
        .max("DEFAULT".len());
    let mut s = String::new();
    s.push_str(
        "Options of liboxalloc (environment variables, read once at the program's first \
         allocation; an invalid value gives one `oxalloc: warning:` line on stderr and the \
         default):\n\n",
    );
    s.push_str(&format!(
        "  {:<var_w$}  {:<def_w$}  MEANING\n",
        "VARIABLE", "DEFAULT"
    ));
    for o in OPTIONS {
        let meaning = wrap(o.meaning, 56);
        for (i, line) in meaning.iter().enumerate() {
            if i == 0 {
                s.push_str(&format!(
                    "  {:<var_w$}  {:<def_w$}  {line}\n",
                    o.env,
                    display_default(o.default)
                ));
            } else {
                s.push_str(&format!("  {:<var_w$}  {:<def_w$}  {line}\n", "", ""));
            }
        }
    }
    s.push_str(
        "\n`oxalloc run` sets LD_PRELOAD, and with --stats OXALLOC_STATS_FILE; set any of the \
         others in the environment, e.g. `OXALLOC_TRIM_THRESHOLD=1m oxalloc run -- prog`.",
    );
    s
}

fn display_default(d: &str) -> &str {
    if d.is_empty() {
        "(none)"
    } else {
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_is_in_the_table() {
        let t = table();
        for o in OPTIONS {
            assert!(t.contains(o.env), "{} missing", o.env);
            let first_word = o.meaning.split_whitespace().next().expect("meaning");
            assert!(t.contains(first_word));
        }
        assert!(t.contains("OXALLOC_TRIM_THRESHOLD"));
    }

    #[test]
    fn wrapping_keeps_every_word() {
        let lines = wrap("a bb ccc dddd eeeee", 6);
        assert_eq!(lines, ["a bb", "ccc", "dddd", "eeeee"]);
        assert_eq!(wrap("", 5), [""]);
    }
}
