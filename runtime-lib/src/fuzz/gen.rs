//! A fixed-seed generator of hostile JSON near a valid document: random
//! mutations (values of the wrong type, interesting strings and numbers,
//! deleted keys, duplicated and huge arrays) at random paths, and byte-level
//! damage to the serialized text. Deterministic: a case is replayed from its
//! seed.

use serde_json::{json, Map, Value};

/// xorshift64*: small, fast, and the same sequence on every machine.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (0 is mapped to a fixed non-zero state).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// True with probability 1/n.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// Strings that tend to break parsers and planners.
const STRINGS: &[&str] = &[
    "",
    "/",
    ".",
    "..",
    "../..",
    "/..",
    "//",
    "a/../../b",
    "\0",
    "a\0b",
    "\n",
    "=",
    "A=",
    "=B",
    "rw",
    "ro",
    "bind",
    "rbind",
    "nosuid",
    "mode=0",
    "mode=99999",
    "size=-1",
    "uid=4294967296",
    "shared",
    "rslave",
    "private",
    "idmap",
    "recursive",
    "CAP_SYS_ADMIN",
    "CAP_BOGUS",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_BOGUS",
    "SCMP_ARCH_X86_64",
    "SCMP_CMP_EQ",
    "SCMP_CMP_MASKED_EQ",
    "RLIMIT_NOFILE",
    "RLIMIT_BOGUS",
    "pid",
    "network",
    "user",
    "cgroup",
    "time",
    "tmpfs",
    "proc",
    "sysfs",
    "cgroup2",
    "bogusfs",
    "0-3",
    "0-",
    "-1",
    "3-1",
    "0,,1",
    "9999999999",
    "max",
    "1G",
    "2MB",
    "1KB",
    "a:b:c",
    "system.slice",
    "-.slice",
    "a-b.slice:husk:x",
    "/sys/fs/cgroup",
    "/proc/self/ns/net",
    "\u{feff}",
    "é",
    "\u{10ffff}",
    "%s%n",
    "${HOME}",
];

const NUMBERS: &[i128] = &[
    0,
    1,
    -1,
    2,
    7,
    255,
    256,
    1023,
    1024,
    4095,
    4096,
    65535,
    65536,
    i32::MAX as i128,
    i32::MIN as i128,
    u32::MAX as i128,
    u32::MAX as i128 + 1,
    i64::MAX as i128,
    i64::MIN as i128,
    u64::MAX as i128,
];

/// A random scalar or small container.
pub fn value(r: &mut Rng, depth: usize) -> Value {
    match r.below(if depth > 3 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => Value::Bool(r.one_in(2)),
        2 => {
            let n = NUMBERS[r.below(NUMBERS.len())];
            serde_json::from_str(&n.to_string()).unwrap_or(Value::Null)
        }
        3 => json!(f64::from_bits(r.next()).clamp(-1e300, 1e300)),
        4 => {
            let s = STRINGS[r.below(STRINGS.len())];
            if r.one_in(20) {
                Value::String(s.repeat(1 + r.below(5000)))
            } else {
                Value::String(s.to_string())
            }
        }
        5 => Value::Array((0..r.below(4)).map(|_| value(r, depth + 1)).collect()),
        6 => {
            let mut m = Map::new();
            for _ in 0..r.below(4) {
                m.insert(
                    STRINGS[r.below(STRINGS.len())].to_string(),
                    value(r, depth + 1),
                );
            }
            Value::Object(m)
        }
        _ => Value::String(format!("/{}", STRINGS[r.below(STRINGS.len())])),
    }
}

/// Applies one random mutation somewhere in `doc` (a random path down,
/// stopping at random).
pub fn mutate(r: &mut Rng, doc: &mut Value) {
    if !r.one_in(3) {
        match doc {
            Value::Object(m) if !m.is_empty() => {
                let k = m.keys().nth(r.below(m.len())).cloned().unwrap_or_default();
                if let Some(v) = m.get_mut(&k) {
                    return mutate(r, v);
                }
            }
            Value::Array(a) if !a.is_empty() => {
                let i = r.below(a.len());
                return mutate(r, &mut a[i]);
            }
            _ => {}
        }
    }
    let cur = doc;
    match (r.below(6), &mut *cur) {
        (0, Value::Object(m)) if !m.is_empty() => {
            let k = m.keys().nth(r.below(m.len())).cloned().unwrap_or_default();
            m.remove(&k);
        }
        (1, Value::Array(a)) if !a.is_empty() => {
            let v = a[r.below(a.len())].clone();
            let n = if r.one_in(10) { 1000 } else { 1 + r.below(3) };
            a.extend(std::iter::repeat_n(v, n));
        }
        (2, Value::Object(m)) => {
            m.insert(STRINGS[r.below(STRINGS.len())].to_string(), value(r, 0));
        }
        _ => *cur = value(r, 0),
    }
}

/// `base` with 1..=4 mutations, serialized; sometimes damaged byte-wise.
pub fn hostile_bytes(r: &mut Rng, base: &Value) -> Vec<u8> {
    let mut doc = base.clone();
    for _ in 0..1 + r.below(4) {
        mutate(r, &mut doc);
    }
    let mut bytes = serde_json::to_vec(&doc).unwrap_or_default();
    if r.one_in(8) && !bytes.is_empty() {
        match r.below(3) {
            0 => bytes.truncate(r.below(bytes.len())),
            1 => {
                let i = r.below(bytes.len());
                bytes[i] = (r.next() & 0xff) as u8;
            }
            _ => {
                let i = r.below(bytes.len());
                bytes.insert(i, 0xff);
            }
        }
    }
    bytes
}

/// How many cases each fuzz test runs: `HUSK_FUZZ_CASES`, else `default`
/// (bounded, for `make test`; `make stress` raises it).
pub fn cases(default: u64) -> u64 {
    std::env::var("HUSK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `f` on `n` seeds; a panic fails with the seed that replays it.
pub fn run(name: &str, n: u64, f: impl Fn(&mut Rng) + std::panic::RefUnwindSafe) {
    for seed in 0..n {
        let r = std::panic::catch_unwind(|| f(&mut Rng::new(seed)));
        assert!(r.is_ok(), "fuzz {name}: panic with seed {seed}");
    }
}
