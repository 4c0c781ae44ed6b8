//! A structure-aware mutator for JSON inputs, used by both targets through `fuzz_mutator!`.
//!
//! libFuzzer's byte mutations break JSON syntax almost every time (measured: 0.5% of mutated DSL
//! queries and 0.6% of mutated pages still parsed), so alone they test the parsers' refusals and little
//! else. Here one mutation in four stays libFuzzer's own (with the dictionary); the others read the
//! input as JSON and change it as a tree: a value replaced by one of the target's tokens (a table name,
//! an enum value, a date, an edge-case integer, a Stripe field value), a key renamed, added or removed,
//! a subtree copied elsewhere, a string's characters edited (control characters and escapes included),
//! a number nudged, entries shuffled. The result is written back as JSON text (with random spacing and
//! escaping), so the target still sees plain text that libFuzzer stores, minimizes and replays as is.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// A JSON value that keeps key order and repeated keys (a `serde_json::Value` would lose both).
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    /// The number's JSON text.
    Num(String),
    Str(String),
    Arr(Vec<Node>),
    Obj(Vec<(String, Node)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Num(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Num(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Num(
            serde_json::Number::from_f64(v).map_or_else(|| "0.5".to_owned(), |n| n.to_string()),
        ))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Arr(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            entries.push((key, map.next_value()?));
        }
        Ok(Node::Obj(entries))
    }
}

/// Parse JSON text into a [`Node`]; `None` if it is not JSON.
pub fn parse(text: &[u8]) -> Option<Node> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let node = Node::deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(node)
}

/// What a target's inputs are made of: keys that mean something, JSON values (as text), and which values
/// fit under which key. A value written under a key listed in `fits` is mostly taken from its list, so
/// that a mutated input is often still a valid one (the accepted share the issue asks for).
pub struct Tokens {
    pub keys: &'static [&'static str],
    pub values: &'static [&'static str],
    pub fits: &'static [(&'static str, &'static [&'static str])],
    /// The target only takes UTF-8 text.
    pub text: bool,
}

/// A small deterministic generator (splitmix64): libFuzzer hands the mutator a seed so that a run can
/// be repeated.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u32) -> Rng {
        Rng(u64::from(seed) ^ 0x9e37_79b9_7f4a_7c15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Mutate `data[..size]` (JSON text) into `data`, at most `max_size` bytes; returns the new size.
///
/// One call in four is libFuzzer's own mutation (bytes, dictionary). The others change the input as a
/// tree. The caller may pass `restart`, a valid input to change instead of the current one: the targets
/// do so, one time in two, when the current input is one their parser refuses (most byte mutations
/// leave an input so, and changing it again rarely repairs it), so that the search keeps coming back to
/// inputs the parser accepts. With `tokens.text`, a result that is not UTF-8 is made so (invalid bytes
/// become U+FFFD): such inputs cannot reach the parser, and the target would only skip them.
pub fn mutate_json(
    data: &mut [u8],
    size: usize,
    max_size: usize,
    seed: u32,
    tokens: &Tokens,
    restart: Option<&[u8]>,
) -> usize {
    let mut rng = Rng::new(seed);
    let limit = max_size.min(data.len());
    let (from, structural) = match restart {
        Some(text) => (text, true),
        None => (&data[..size], !rng.chance(4)),
    };
    if structural {
        if let Some(original) = parse(from) {
            let mut node = original.clone();
            // Some changes do nothing where they land (removing from a number, renaming in an array):
            // try again rather than hand libFuzzer the same input.
            for _ in 0..8 {
                for _ in 0..=rng.below(3) {
                    mutate_node(&mut node, &mut rng, tokens);
                }
                if node != original {
                    break;
                }
            }
            let text = write(&node, &mut rng);
            if text.len() <= limit {
                data[..text.len()].copy_from_slice(text.as_bytes());
                return text.len();
            }
        }
    }
    let size = libfuzzer_sys::fuzzer_mutate(data, size, max_size);
    if !tokens.text {
        return size;
    }
    let text = match std::str::from_utf8(&data[..size]) {
        Ok(_) => return size,
        Err(_) => String::from_utf8_lossy(&data[..size]).into_owned(),
    };
    // U+FFFD is 3 bytes: cut at a character boundary if the repaired text no longer fits.
    let mut end = text.len().min(limit);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    data[..end].copy_from_slice(&text.as_bytes()[..end]);
    end
}

/// Number of nodes in the tree (the root included).
fn count(node: &Node) -> usize {
    1 + match node {
        Node::Arr(items) => items.iter().map(count).sum(),
        Node::Obj(entries) => entries.iter().map(|(_, v)| count(v)).sum(),
        _ => 0,
    }
}

/// The `n`th node in pre-order (0 = `node` itself) and the key it sits under, if its parent is an
/// object; `n` < `count(node)`.
fn nth(node: &mut Node, n: usize) -> (&mut Node, Option<String>) {
    fn walk<'a>(
        node: &'a mut Node,
        key: Option<&str>,
        n: &mut usize,
    ) -> Option<(&'a mut Node, Option<String>)> {
        if *n == 0 {
            return Some((node, key.map(str::to_owned)));
        }
        *n -= 1;
        match node {
            Node::Arr(items) => items.iter_mut().find_map(|c| walk(c, None, n)),
            Node::Obj(entries) => entries.iter_mut().find_map(|(k, c)| walk(c, Some(k), n)),
            _ => None,
        }
    }
    let mut left = n;
    walk(node, None, &mut left).expect("callers pick n below count(node)")
}

/// A token for the slot under `key`: one that fits it (three times in four, when the key has a list),
/// or any.
fn token_value(rng: &mut Rng, tokens: &Tokens, key: Option<&str>) -> Node {
    let fitting = key.and_then(|k| tokens.fits.iter().find(|(name, _)| *name == k));
    let text = match fitting {
        Some((_, values)) if !rng.chance(4) => rng.pick(values),
        _ => rng.pick(tokens.values),
    };
    parse(text.as_bytes()).unwrap_or_else(|| Node::Str((*text).to_owned()))
}

fn token_key(rng: &mut Rng, tokens: &Tokens) -> String {
    (*rng.pick(tokens.keys)).to_owned()
}

/// One structural change somewhere in `root`.
fn mutate_node(root: &mut Node, rng: &mut Rng, tokens: &Tokens) {
    let total = count(root);
    let at = rng.below(total);
    match rng.below(12) {
        // Replace a value by a token (the most productive change: the right kind of value in a slot).
        0..=4 => {
            if at > 0 || rng.chance(8) {
                let (node, key) = nth(root, at);
                *node = token_value(rng, tokens, key.as_deref());
            }
        }
        // Rename, add or remove a key in an object.
        5 => {
            if let (Node::Obj(entries), _) = nth(root, at) {
                if !entries.is_empty() {
                    let i = rng.below(entries.len());
                    entries[i].0 = if rng.chance(3) {
                        mutate_string(&entries[i].0, rng)
                    } else {
                        token_key(rng, tokens)
                    };
                }
            }
        }
        6 => match nth(root, at) {
            (Node::Obj(entries), _) => {
                let i = rng.below(entries.len() + 1);
                let key = token_key(rng, tokens);
                let value = token_value(rng, tokens, Some(&key));
                entries.insert(i, (key, value));
            }
            (Node::Arr(items), _) if !items.is_empty() => {
                let copy = items[rng.below(items.len())].clone();
                items.push(copy);
            }
            _ => {}
        },
        7 => match nth(root, at) {
            (Node::Obj(entries), _) if !entries.is_empty() => {
                entries.remove(rng.below(entries.len()));
            }
            (Node::Arr(items), _) if !items.is_empty() => {
                items.remove(rng.below(items.len()));
            }
            _ => {}
        },
        // Copy a subtree over another one (crossover inside the input).
        8 => {
            let from = nth(root, rng.below(total)).0.clone();
            if at > 0 && count(&from) < 512 {
                *nth(root, at).0 = from;
            }
        }
        // Edit a scalar in place.
        9 | 10 => match nth(root, at) {
            (Node::Str(s), _) => *s = mutate_string(s, rng),
            (Node::Num(n), _) => *n = mutate_number(n, rng),
            (Node::Bool(b), _) => *b = !*b,
            (Node::Obj(entries), _) if entries.len() > 1 => {
                let i = rng.below(entries.len());
                let j = rng.below(entries.len());
                entries.swap(i, j);
            }
            (other, key) => *other = token_value(rng, tokens, key.as_deref()),
        },
        // Change the kind of a value.
        _ => {
            if at > 0 {
                *nth(root, at).0 = match rng.below(6) {
                    0 => Node::Null,
                    1 => Node::Bool(rng.chance(2)),
                    2 => Node::Str(String::new()),
                    3 => Node::Arr(Vec::new()),
                    4 => Node::Obj(Vec::new()),
                    _ => Node::Num("0".to_owned()),
                };
            }
        }
    }
}

fn mutate_string(s: &str, rng: &mut Rng) -> String {
    const ODD: &[&str] = &[
        "\u{0}",
        "\n",
        "\u{1b}[31m",
        "\u{7f}",
        "\u{85}",
        "\u{2028}",
        "é",
        "\u{fffd}",
        "😀",
        "'",
        "\"",
        "\\",
        "/",
        "..",
        "&",
        "=",
        "?",
        "#",
        "%2F",
        " ",
        "_",
        "0",
        "9",
        "A",
        "z",
        "-",
        ":",
        "T",
        "Z",
        "+",
    ];
    let mut chars: Vec<char> = s.chars().collect();
    match rng.below(5) {
        0 if !chars.is_empty() => {
            chars.remove(rng.below(chars.len()));
        }
        1 if !chars.is_empty() => {
            let i = rng.below(chars.len());
            chars.truncate(i);
        }
        2 => {
            // Repeat a run: long ids, long names, long dates.
            let long = rng.chance(4);
            let times = 1 + rng.below(if long { 2000 } else { 8 });
            let piece = if chars.is_empty() {
                'a'
            } else {
                chars[rng.below(chars.len())]
            };
            let i = rng.below(chars.len() + 1);
            chars.splice(i..i, std::iter::repeat_n(piece, times));
        }
        _ => {
            let odd: Vec<char> = rng.pick(ODD).chars().collect();
            let i = rng.below(chars.len() + 1);
            if !chars.is_empty() && rng.chance(2) && i < chars.len() {
                chars.remove(i);
            }
            for (k, c) in odd.into_iter().enumerate() {
                chars.insert(i + k, c);
            }
        }
    }
    chars.into_iter().collect()
}

fn mutate_number(n: &str, rng: &mut Rng) -> String {
    let v: i128 = n.parse().unwrap_or(0);
    match rng.below(8) {
        0 => (v + 1).to_string(),
        1 => (v - 1).to_string(),
        2 => (-v).to_string(),
        3 => (v.saturating_mul(1000)).to_string(),
        4 => format!("{v}.0"),
        5 => format!("{v}e{}", rng.below(4)),
        6 => rng
            .pick(&[
                "0",
                "-0",
                "1",
                "-1",
                "9223372036854775807",
                "9223372036854775808",
                "18446744073709551615",
                "18446744073709551616",
                "-9223372036854775808",
                "-9223372036854775809",
                "253402300799",
                "253402300800",
                "4294967295",
                "100000",
                "100001",
                "1e400",
                "0.5",
                "1E2",
            ])
            .to_string(),
        _ => rng.next_u64().to_string(),
    }
}

/// JSON text of `node`, with random (valid) spacing and escaping.
fn write(node: &Node, rng: &mut Rng) -> String {
    let mut out = String::new();
    let spaced = rng.chance(4);
    let ascii = rng.chance(6);
    emit(node, rng, spaced, ascii, &mut out);
    out
}

fn emit(node: &Node, rng: &mut Rng, spaced: bool, ascii: bool, out: &mut String) {
    let ws = |rng: &mut Rng, out: &mut String| {
        if spaced {
            out.push_str(rng.pick(&["", " ", "\n  ", "\t"]));
        }
    };
    match node {
        Node::Null => out.push_str("null"),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Num(n) => out.push_str(n),
        Node::Str(s) => emit_str(s, ascii, out),
        Node::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                ws(rng, out);
                emit(item, rng, spaced, ascii, out);
            }
            ws(rng, out);
            out.push(']');
        }
        Node::Obj(entries) => {
            out.push('{');
            for (i, (key, value)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                ws(rng, out);
                emit_str(key, ascii, out);
                out.push(':');
                ws(rng, out);
                emit(value, rng, spaced, ascii, out);
            }
            ws(rng, out);
            out.push('}');
        }
    }
}

/// A JSON string literal; with `ascii`, every non-ASCII character as `\uXXXX` (surrogate pairs beyond
/// the BMP), which the parsers must read back to the same text.
fn emit_str(s: &str, ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 || (ascii && !c.is_ascii()) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_json_reads_back_as_the_same_tree() {
        let text = br#"{"list":"customers","filters":{"created":{"gte":"2026-01-01"}},"x":["a\n\u0001",1,-2,0.5,null,true],"x":"\u00e9\ud83d\ude00"}"#;
        let node = parse(text).expect("json");
        for seed in 0..64 {
            let mut rng = Rng::new(seed);
            assert_eq!(
                parse(write(&node, &mut rng).as_bytes()),
                Some(node.clone()),
                "seed {seed}"
            );
        }
    }

    #[test]
    fn nth_visits_every_node_in_pre_order() {
        let mut node = parse(br#"{"a":[1,{"b":2}],"c":3}"#).expect("json");
        let total = count(&node);
        assert_eq!(total, 6);
        let seen: Vec<(Node, Option<String>)> = (0..total)
            .map(|i| {
                let (n, k) = nth(&mut node, i);
                (n.clone(), k)
            })
            .collect();
        let key = |k: &str| Some(k.to_owned());
        assert_eq!(seen[1], (parse(br#"[1,{"b":2}]"#).expect("json"), key("a")));
        assert_eq!(seen[2], (Node::Num("1".into()), None));
        assert_eq!(seen[4], (Node::Num("2".into()), key("b")));
        assert_eq!(seen[5], (Node::Num("3".into()), key("c")));
    }

    #[test]
    fn structural_mutations_always_write_json() {
        let tokens = Tokens {
            keys: &["list", "gte"],
            values: &["\"customers\"", "5", "{\"gte\":1}"],
            fits: &[("list", &["\"charges\""])],
            text: true,
        };
        let text = br#"{"list":"customers","filters":{"created":{"gte":"2026-01-01"}}}"#;
        let mut changed = 0;
        for seed in 0..1000u32 {
            let mut rng = Rng::new(seed);
            let mut node = parse(text).expect("json");
            mutate_node(&mut node, &mut rng, &tokens);
            let out = write(&node, &mut rng);
            assert_eq!(parse(out.as_bytes()), Some(node), "seed {seed}: {out}");
            changed += usize::from(out.as_bytes() != text);
        }
        // Some changes do nothing where they land; mutate_json tries again then.
        assert!(
            changed > 750,
            "only {changed} of 1000 mutations changed the input"
        );
    }
}
