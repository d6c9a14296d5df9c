//! Builds and drops trees: generated arithmetic expressions and JSON-like documents are
//! tokenized, parsed into `Box`-based syntax trees, evaluated and dropped.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::util::{mix, Rng};

// ---------------------------------------------------------------------------------------------
// Arithmetic expressions
// ---------------------------------------------------------------------------------------------

#[derive(Debug, PartialEq)]
enum Tok {
    Num(i64),
    Ident(String),
    Op(char),
    LParen,
    RParen,
    Comma,
}

enum Expr {
    Num(i64),
    Var(String),
    Neg(Box<Expr>),
    Bin(char, Box<Expr>, Box<Expr>),
    Call(String, Vec<Expr>),
}

const VARS: [&str; 6] = ["alpha", "beta", "gamma", "delta", "x", "y"];
const FUNCS: [&str; 3] = ["max", "min", "sum"];

fn gen_expr(rng: &mut Rng, depth: u32, out: &mut String) {
    if depth == 0 || rng.below(4) == 0 {
        if rng.below(3) == 0 {
            out.push_str(VARS[rng.below(VARS.len() as u64) as usize]);
        } else {
            let _ = write!(out, "{}", rng.below(100_000));
        }
        return;
    }
    match rng.below(10) {
        0 => {
            out.push('-');
            gen_expr(rng, depth - 1, out);
        }
        1 => {
            out.push_str(FUNCS[rng.below(FUNCS.len() as u64) as usize]);
            out.push('(');
            for i in 0..rng.range(1, 4) {
                if i > 0 {
                    out.push_str(", ");
                }
                gen_expr(rng, depth - 1, out);
            }
            out.push(')');
        }
        2 | 3 => {
            out.push('(');
            gen_expr(rng, depth - 1, out);
            out.push(')');
        }
        _ => {
            gen_expr(rng, depth - 1, out);
            let op = ['+', '-', '*', '/', '%'][rng.below(5) as usize];
            let _ = write!(out, " {op} ");
            gen_expr(rng, depth - 1, out);
        }
    }
}

fn tokenize(s: &str) -> Vec<Tok> {
    let b = s.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' => i += 1,
            b'0'..=b'9' => {
                let mut n = 0i64;
                while i < b.len() && b[i].is_ascii_digit() {
                    n = n * 10 + i64::from(b[i] - b'0');
                    i += 1;
                }
                toks.push(Tok::Num(n));
            }
            b'a'..=b'z' => {
                let start = i;
                while i < b.len() && b[i].is_ascii_lowercase() {
                    i += 1;
                }
                toks.push(Tok::Ident(s[start..i].to_string()));
            }
            b'(' => {
                toks.push(Tok::LParen);
                i += 1;
            }
            b')' => {
                toks.push(Tok::RParen);
                i += 1;
            }
            b',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            _ => {
                toks.push(Tok::Op(c as char));
                i += 1;
            }
        }
    }
    toks
}

struct ExprParser {
    toks: Vec<Tok>,
    pos: usize,
}

impl ExprParser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Tok {
        let t = std::mem::replace(&mut self.toks[self.pos], Tok::Comma);
        self.pos += 1;
        t
    }

    fn expr(&mut self) -> Expr {
        let mut lhs = self.term();
        while let Some(Tok::Op(op @ ('+' | '-'))) = self.peek() {
            let op = *op;
            self.pos += 1;
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(self.term()));
        }
        lhs
    }

    fn term(&mut self) -> Expr {
        let mut lhs = self.factor();
        while let Some(Tok::Op(op @ ('*' | '/' | '%'))) = self.peek() {
            let op = *op;
            self.pos += 1;
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(self.factor()));
        }
        lhs
    }

    fn factor(&mut self) -> Expr {
        match self.next() {
            Tok::Num(n) => Expr::Num(n),
            Tok::Op('-') => Expr::Neg(Box::new(self.factor())),
            Tok::LParen => {
                let e = self.expr();
                assert_eq!(self.next(), Tok::RParen, "parser: expected )");
                e
            }
            Tok::Ident(name) => {
                if self.peek() == Some(&Tok::LParen) {
                    self.pos += 1;
                    let mut args = vec![self.expr()];
                    while self.peek() == Some(&Tok::Comma) {
                        self.pos += 1;
                        args.push(self.expr());
                    }
                    assert_eq!(
                        self.next(),
                        Tok::RParen,
                        "parser: expected ) after arguments"
                    );
                    Expr::Call(name, args)
                } else {
                    Expr::Var(name)
                }
            }
            t => panic!("parser: unexpected token {t:?}"),
        }
    }
}

fn eval(e: &Expr, env: &BTreeMap<String, i64>) -> i64 {
    match e {
        Expr::Num(n) => *n,
        Expr::Var(v) => env[v],
        Expr::Neg(x) => eval(x, env).wrapping_neg(),
        Expr::Bin(op, a, b) => {
            let (a, b) = (eval(a, env), eval(b, env));
            match op {
                '+' => a.wrapping_add(b),
                '-' => a.wrapping_sub(b),
                '*' => a.wrapping_mul(b),
                '/' if b != 0 => a.wrapping_div(b),
                '%' if b != 0 => a.wrapping_rem(b),
                _ => a,
            }
        }
        Expr::Call(f, args) => {
            let vals = args.iter().map(|a| eval(a, env));
            match f.as_str() {
                "max" => vals.max().unwrap_or(0),
                "min" => vals.min().unwrap_or(0),
                _ => vals.fold(0i64, i64::wrapping_add),
            }
        }
    }
}

fn count_nodes(e: &Expr) -> u64 {
    match e {
        Expr::Num(_) | Expr::Var(_) => 1,
        Expr::Neg(x) => 1 + count_nodes(x),
        Expr::Bin(_, a, b) => 1 + count_nodes(a) + count_nodes(b),
        Expr::Call(_, args) => 1 + args.iter().map(count_nodes).sum::<u64>(),
    }
}

// ---------------------------------------------------------------------------------------------
// JSON-like documents
// ---------------------------------------------------------------------------------------------

enum Value {
    Null,
    Bool(bool),
    Num(i64),
    Str(String),
    Arr(Vec<Value>),
    Obj(BTreeMap<String, Value>),
}

fn gen_json(rng: &mut Rng, depth: u32, out: &mut String) {
    let leaf = depth == 0 || rng.below(3) == 0;
    match if leaf { rng.below(4) } else { 4 + rng.below(2) } {
        0 => out.push_str(["null", "true", "false"][rng.below(3) as usize]),
        1 | 2 => {
            let _ = write!(out, "{}", rng.below(1 << 40) as i64 - (1 << 39));
        }
        3 => gen_string(rng, out),
        4 => {
            out.push('[');
            for i in 0..rng.range(0, 8) {
                if i > 0 {
                    out.push(',');
                }
                gen_json(rng, depth - 1, out);
            }
            out.push(']');
        }
        _ => {
            out.push('{');
            for i in 0..rng.range(0, 8) {
                if i > 0 {
                    out.push(',');
                }
                gen_string(rng, out);
                out.push(':');
                gen_json(rng, depth - 1, out);
            }
            out.push('}');
        }
    }
}

fn gen_string(rng: &mut Rng, out: &mut String) {
    out.push('"');
    for _ in 0..rng.range(1, 24) {
        out.push((b'a' + rng.below(26) as u8) as char);
    }
    out.push('"');
}

struct JsonParser<'a> {
    b: &'a [u8],
    pos: usize,
}

impl JsonParser<'_> {
    fn value(&mut self) -> Value {
        match self.b[self.pos] {
            b'n' => {
                self.pos += 4;
                Value::Null
            }
            b't' => {
                self.pos += 4;
                Value::Bool(true)
            }
            b'f' => {
                self.pos += 5;
                Value::Bool(false)
            }
            b'"' => Value::Str(self.string()),
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                while self.b[self.pos] != b']' {
                    items.push(self.value());
                    if self.b[self.pos] == b',' {
                        self.pos += 1;
                    }
                }
                self.pos += 1;
                Value::Arr(items)
            }
            b'{' => {
                self.pos += 1;
                let mut map = BTreeMap::new();
                while self.b[self.pos] != b'}' {
                    let k = self.string();
                    assert_eq!(self.b[self.pos], b':', "json: expected :");
                    self.pos += 1;
                    map.insert(k, self.value());
                    if self.b[self.pos] == b',' {
                        self.pos += 1;
                    }
                }
                self.pos += 1;
                Value::Obj(map)
            }
            _ => {
                let start = self.pos;
                self.pos += 1;
                while self.pos < self.b.len() && self.b[self.pos].is_ascii_digit() {
                    self.pos += 1;
                }
                let text = std::str::from_utf8(&self.b[start..self.pos]).expect("ascii");
                Value::Num(text.parse().expect("json: number"))
            }
        }
    }

    fn string(&mut self) -> String {
        assert_eq!(self.b[self.pos], b'"', "json: expected string");
        let start = self.pos + 1;
        let end = start
            + self.b[start..]
                .iter()
                .position(|&c| c == b'"')
                .expect("json: unterminated");
        self.pos = end + 1;
        String::from_utf8(self.b[start..end].to_vec()).expect("ascii")
    }
}

fn summarize(v: &Value, h: u64) -> u64 {
    match v {
        Value::Null => mix(h, 1),
        Value::Bool(b) => mix(h, 2 + u64::from(*b)),
        Value::Num(n) => mix(h, *n as u64),
        Value::Str(s) => mix(h, s.len() as u64 + u64::from(s.as_bytes()[0])),
        Value::Arr(items) => items.iter().fold(mix(h, 5), |h, v| summarize(v, h)),
        Value::Obj(map) => map
            .iter()
            .fold(mix(h, 6), |h, (k, v)| summarize(v, mix(h, k.len() as u64))),
    }
}

pub fn run(quick: bool) -> u64 {
    let rounds = if quick { 300 } else { 3000 };
    let mut rng = Rng::new(2);
    let env: BTreeMap<String, i64> = VARS
        .iter()
        .enumerate()
        .map(|(i, v)| (v.to_string(), (i as i64 + 3) * 7919))
        .collect();
    let mut h = 0u64;
    for _ in 0..rounds {
        let mut text = String::new();
        gen_expr(&mut rng, 12, &mut text);
        let mut p = ExprParser {
            toks: tokenize(&text),
            pos: 0,
        };
        let ast = p.expr();
        assert_eq!(p.pos, p.toks.len(), "parser: trailing tokens");
        h = mix(h, eval(&ast, &env) as u64);
        h = mix(h, count_nodes(&ast));
        drop(ast);

        let mut doc = String::new();
        gen_json(&mut rng, 6, &mut doc);
        let mut jp = JsonParser {
            b: doc.as_bytes(),
            pos: 0,
        };
        let value = jp.value();
        assert_eq!(jp.pos, doc.len(), "json: trailing text");
        h = summarize(&value, mix(h, doc.len() as u64));
    }
    h
}
