//! Small-object churn with mixed lifetimes: arbitrary-precision arithmetic on `Vec<u32>` limbs.
//!
//! Every operation returns a new vector, so Fibonacci numbers, factorials, products and the
//! decimal conversion leave a trail of short-lived temporaries, while a ring of recent results
//! keeps some of them alive for longer.

use crate::util::{mix, Rng};

/// A natural number, little-endian base-2^32 limbs, no high zero limbs (zero is empty).
type Big = Vec<u32>;

fn trim(mut v: Big) -> Big {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

fn from_u32(x: u32) -> Big {
    trim(vec![x])
}

fn add(a: &[u32], b: &[u32]) -> Big {
    let (a, b) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(a.len() + 1);
    let mut carry = 0u64;
    for (i, &x) in a.iter().enumerate() {
        let s = u64::from(x) + u64::from(b.get(i).copied().unwrap_or(0)) + carry;
        out.push(s as u32);
        carry = s >> 32;
    }
    if carry != 0 {
        out.push(carry as u32);
    }
    out
}

/// `a - b` for `a >= b`.
fn sub(a: &[u32], b: &[u32]) -> Big {
    let mut out = Vec::with_capacity(a.len());
    let mut borrow = 0i64;
    for (i, &x) in a.iter().enumerate() {
        let mut d = i64::from(x) - i64::from(b.get(i).copied().unwrap_or(0)) - borrow;
        borrow = i64::from(d < 0);
        if d < 0 {
            d += 1 << 32;
        }
        out.push(d as u32);
    }
    trim(out)
}

fn mul_small(a: &[u32], m: u32) -> Big {
    let mut out = Vec::with_capacity(a.len() + 1);
    let mut carry = 0u64;
    for &x in a {
        let p = u64::from(x) * u64::from(m) + carry;
        out.push(p as u32);
        carry = p >> 32;
    }
    if carry != 0 {
        out.push(carry as u32);
    }
    trim(out)
}

fn mul(a: &[u32], b: &[u32]) -> Big {
    if a.is_empty() || b.is_empty() {
        return Vec::new();
    }
    let mut out = vec![0u32; a.len() + b.len()];
    for (i, &x) in a.iter().enumerate() {
        let mut carry = 0u64;
        for (j, &y) in b.iter().enumerate() {
            let t = u64::from(x) * u64::from(y) + u64::from(out[i + j]) + carry;
            out[i + j] = t as u32;
            carry = t >> 32;
        }
        out[i + b.len()] = carry as u32;
    }
    trim(out)
}

/// `(a / d, a % d)`.
fn divmod_small(a: &[u32], d: u32) -> (Big, u32) {
    let mut q = vec![0u32; a.len()];
    let mut rem = 0u64;
    for i in (0..a.len()).rev() {
        let cur = (rem << 32) | u64::from(a[i]);
        q[i] = (cur / u64::from(d)) as u32;
        rem = cur % u64::from(d);
    }
    (trim(q), rem as u32)
}

/// Decimal digits, by repeated division by 10^9 (one new quotient per step).
fn to_decimal(a: &[u32]) -> String {
    if a.is_empty() {
        return "0".to_string();
    }
    let mut chunks = Vec::new();
    let mut cur = a.to_vec();
    while !cur.is_empty() {
        let (q, r) = divmod_small(&cur, 1_000_000_000);
        chunks.push(r);
        cur = q;
    }
    let mut s = chunks.pop().map(|c| c.to_string()).unwrap_or_default();
    for c in chunks.iter().rev() {
        s.push_str(&format!("{c:09}"));
    }
    s
}

fn fib(n: usize) -> Big {
    let (mut a, mut b) = (Big::new(), from_u32(1));
    for _ in 0..n {
        let c = add(&a, &b);
        a = b;
        b = c;
    }
    a
}

fn factorial(n: u32) -> Big {
    let mut f = from_u32(1);
    for k in 2..=n {
        f = mul_small(&f, k);
    }
    f
}

fn hash_big(h: u64, a: &[u32]) -> u64 {
    a.iter()
        .fold(mix(h, a.len() as u64), |h, &x| mix(h, u64::from(x)))
}

pub fn run(quick: bool) -> u64 {
    let rounds = if quick { 250 } else { 2500 };
    let mut rng = Rng::new(1);
    let mut ring: Vec<Big> = vec![Big::new(); 64];
    let mut h = 0u64;
    for _ in 0..rounds {
        let f = fib(rng.range(300, 3000));
        let n = factorial(rng.range(50, 600) as u32);
        let p = mul(&f, &n);
        let q = sub(&add(&p, &f), &f);
        assert_eq!(q, p, "bignum: (p + f) - f != p");
        let digits = to_decimal(&q);
        h = mix(h, digits.len() as u64);
        h = mix(h, u64::from(digits.as_bytes()[digits.len() / 2]));
        h = hash_big(h, &q);
        // Longer-lived values: replace a random slot, combine two others.
        let slot = rng.below(ring.len() as u64) as usize;
        ring[slot] = q;
        let (i, j) = (rng.below(64) as usize, rng.below(64) as usize);
        let sum = add(&ring[i], &ring[j]);
        h = hash_big(h, &sum);
    }
    for r in &ring {
        h = hash_big(h, r);
    }
    h
}
