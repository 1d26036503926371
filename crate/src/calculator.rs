//! The calculator protocol of chapter 18, spoken over every server of that
//! chapter: a line of integers separated by commas is answered with their
//! sum, or their product after the line `product` (`sum` switches back);
//! `quit` is answered with `bye` and the connection ends. Every malformed
//! line gets one line that starts with `error:` and says what is wrong.
//!
//! The arithmetic is the reference answer of exercise `ch18_calculator`
//! ([`evaluate`]); a property test (proptest) feeds [`Session`] random and
//! near-valid lines and checks that it never panics and always answers one
//! line.

use crate::exercise::{self, Verdict};
use std::fmt;

pub use crate::exercises::solutions::ch18_calculator::evaluate;

/// Adding up or multiplying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Sum,
    Product,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Sum => "sum",
            Mode::Product => "product",
        })
    }
}

/// What a server sends back for one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Send this line and keep reading.
    Line(String),
    /// Send `bye` and close the connection.
    Bye,
}

impl Reply {
    /// The text to send, newline included.
    pub fn text(&self) -> String {
        match self {
            Reply::Line(s) => format!("{s}\n"),
            Reply::Bye => "bye\n".to_string(),
        }
    }
}

/// One client's conversation: it remembers the mode.
#[derive(Debug, Clone)]
pub struct Session {
    mode: Mode,
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

impl Session {
    /// A new conversation, in sum mode.
    pub fn new() -> Session {
        Session { mode: Mode::Sum }
    }

    /// The mode now.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The answer to one line (without its newline; a trailing `\r` is
    /// ignored, for clients that end lines with CRLF).
    pub fn reply(&mut self, line: &str) -> Reply {
        let line = line.strip_suffix('\r').unwrap_or(line);
        match line.trim() {
            "quit" => Reply::Bye,
            "sum" => {
                self.mode = Mode::Sum;
                Reply::Line("mode: sum".into())
            }
            "product" => {
                self.mode = Mode::Product;
                Reply::Line("mode: product".into())
            }
            _ => Reply::Line(match evaluate(line, self.mode) {
                Ok(n) => n.to_string(),
                Err(why) => format!("error: {}", why.replace(['\n', '\r'], " ")),
            }),
        }
    }
}

// --- the judge of ch18_calculator ---------------------------------------------

/// What a line should give: its exact value (if every step fits in 64
/// bits), no value, or "either" (the final value fits, a step on the way
/// does not: an error then is as right as the value).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Truth {
    Value(i64),
    /// Malformed; `Some(k)`: field k (from 1) is the first bad one, and the
    /// error must name it.
    Malformed(Option<usize>),
    Overflows,
    ValueOrError(i64),
}

/// The judge's own view of a line, worked out in 128 bits.
fn truth(line: &str, mode: Mode) -> Truth {
    if line.trim().is_empty() {
        return Truth::Malformed(None);
    }
    let mut numbers = Vec::new();
    // An answer that works field by field may stop at an overflow before
    // it reaches the bad field: then any error is right.
    let mut running = Some(if mode == Mode::Sum { 0i64 } else { 1 });
    for (i, field) in line.split(',').enumerate() {
        let t = field.trim();
        let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
        let parsed = t.parse::<i64>().ok().filter(|_| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
        let Some(n) = parsed else {
            return Truth::Malformed(running.map(|_| i + 1));
        };
        numbers.push(n);
        running = running.and_then(|r| if mode == Mode::Sum { r.checked_add(n) } else { r.checked_mul(n) });
    }
    let mut exact: Option<i128> = Some(if mode == Mode::Sum { 0 } else { 1 });
    let mut stepwise = true;
    for &n in &numbers {
        exact = exact.and_then(|t| if mode == Mode::Sum { t.checked_add(n as i128) } else { t.checked_mul(n as i128) });
        if exact.is_some_and(|t| i64::try_from(t).is_err()) {
            stepwise = false;
        }
    }
    // A product that ends in 0 is 0 however big it got on the way.
    if mode == Mode::Product && numbers.contains(&0) {
        return if stepwise { Truth::Value(0) } else { Truth::ValueOrError(0) };
    }
    match exact.and_then(|t| i64::try_from(t).ok()) {
        Some(v) if stepwise => Truth::Value(v),
        Some(v) => Truth::ValueOrError(v),
        None => Truth::Overflows,
    }
}

/// How many of the judge's lines are random.
const RANDOM_LINES: usize = 1500;

/// Lines every answer must get right: (line, mode).
fn fixed_cases() -> Vec<(String, Mode)> {
    use Mode::*;
    let mut cases: Vec<(String, Mode)> = [
        // The book's session.
        ("1,2", Sum), ("4,9", Sum), ("0,-3", Product), ("5,-9,10", Product),
        // Right, with room around the numbers and signs.
        (" 4 , 9 ", Sum), ("7", Sum), ("7", Product), ("+7,-2", Sum), ("-5", Product), ("\t3,\t4", Product),
        ("9223372036854775807", Sum), ("-9223372036854775808", Sum),
        // Malformed.
        ("", Sum), ("   ", Product), (",", Sum), ("1,", Sum), (",1", Product), ("1,,2", Sum), ("1;2", Sum), ("1 2", Sum),
        ("x", Sum), ("1,x", Product), ("1.5", Sum), ("0x10", Sum), ("1,2,3a", Sum), ("+", Sum), ("-", Product),
        ("9223372036854775808", Sum), ("-9223372036854775809", Product), ("1_000", Sum), ("١٢", Sum), ("−1", Sum),
        ("1e3", Product), ("sum 1,2", Sum),
        // Too big.
        ("9223372036854775807,1", Sum), ("-9223372036854775808,-1", Sum), ("4294967296,4294967296", Product),
        ("-9223372036854775808,-1", Product), ("3037000500,3037000500", Product),
        // Too big on the way, fine at the end: either answer is right.
        ("9223372036854775807,1,-1", Sum), ("4294967296,4294967296,0", Product),
    ]
    .iter()
    .map(|&(l, m)| (l.to_string(), m))
    .collect();
    // Seeded random lines: tokens a learner's parser trips on, joined by
    // commas (mostly) and other separators.
    let tokens = [
        "0", "1", "-1", "+2", "42", " 17 ", "-300", "9223372036854775807", "-9223372036854775808", "4611686018427387904",
        "99999999999999999999", "", " ", "x", "+", "--1", "1.0", "1e2", "0x1f", "7 8", "٣", "１", "½", "\t5",
    ];
    let seps = [",", ",", ",", ",", ", ", ";", " "];
    let mut rng = crate::workload::Rng::new(18);
    for _ in 0..RANDOM_LINES {
        let n = 1 + rng.below(5) as usize;
        let mut line = String::new();
        for k in 0..n {
            if k > 0 {
                line.push_str(seps[rng.below(seps.len() as u64) as usize]);
            }
            line.push_str(tokens[rng.below(tokens.len() as u64) as usize]);
        }
        let mode = if rng.below(2) == 0 { Sum } else { Product };
        cases.push((line, mode));
    }
    cases
}

/// The judge of `ch18_calculator`: `evaluate(line, mode)` must give the
/// exact value of every well-formed line, and for every malformed line an
/// error that names the bad field (its number or its text), never a panic.
pub fn judge_calculator(evaluate: fn(&str, Mode) -> Result<i64, String>) -> Verdict {
    exercise::run(exercise::DEFAULT_LIMIT, move || {
        let cases = fixed_cases();
        for (line, mode) in &cases {
            let call = format!("evaluate({line:?}, Mode::{mode:?})");
            let got = exercise::call(|| evaluate(line, *mode)).map_err(|p| format!("{call} panicked: {p}"))?;
            match (truth(line, *mode), got) {
                (Truth::Value(v), Ok(g)) | (Truth::ValueOrError(v), Ok(g)) if g != v => {
                    return Err(format!("{call} returned Ok({g}), but the {mode} is {v}"));
                }
                (Truth::Value(v), Err(e)) => return Err(format!("{call} returned Err({e:?}), but the line is fine: its {mode} is {v}")),
                (Truth::Malformed(_), Ok(g)) => return Err(format!("{call} returned Ok({g}), but the line is malformed: answer it with an error")),
                (Truth::Overflows, Ok(g)) => {
                    return Err(format!("{call} returned Ok({g}), but the {mode} does not fit in 64 bits (checked_add / checked_mul say so)"))
                }
                (_, Err(e)) if e.trim().is_empty() => return Err(format!("{call} returned an empty error: say what is wrong")),
                (Truth::Malformed(Some(k)), Err(e)) => {
                    let field = line.split(',').nth(k - 1).unwrap_or("").trim();
                    let named = e.contains(&k.to_string()) || (!field.is_empty() && e.contains(field));
                    if !named {
                        return Err(format!(
                            "{call} returned Err({e:?}), which does not name the bad field: field {k} ({field:?}); \
                             a client cannot fix a line it is not told about"
                        ));
                    }
                }
                _ => {}
            }
        }
        Ok(format!(
            "the book's session, {} lines in all (well-formed, malformed and too big, {} of them random): every value \
             exact, every bad line an error that names the field, no panic",
            cases.len(),
            RANDOM_LINES
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_books_session() {
        let mut s = Session::new();
        let said: Vec<Reply> = ["1,2", "4,9", "product", "0,-3", "5,-9,10", "sum", "quit"].iter().map(|l| s.reply(l)).collect();
        let want = ["3", "13", "mode: product", "0", "-450", "mode: sum"].map(|t| Reply::Line(t.to_string()));
        assert_eq!(&said[..6], &want);
        assert_eq!(said[6], Reply::Bye);
        assert_eq!(s.reply("1,x\r"), Reply::Line("error: field 2 (\"x\") is not a whole number that fits in 64 bits".into()));
    }

    #[test]
    fn the_truth_agrees_with_the_reference_where_it_is_sure() {
        for (line, mode) in fixed_cases() {
            match (truth(&line, mode), evaluate(&line, mode)) {
                (Truth::Value(v), r) => assert_eq!(r, Ok(v), "{line:?}"),
                (Truth::Malformed(_) | Truth::Overflows, r) => assert!(r.is_err(), "{line:?}"),
                (Truth::ValueOrError(_), _) => {}
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..Default::default() })]

        /// Any text at all: one line back, never a panic.
        #[test]
        fn any_line_gets_one_line_back(line in "\\PC{0,40}") {
            let mut s = Session::new();
            let text = s.reply(&line).text();
            prop_assert!(text.ends_with('\n') && text.matches('\n').count() == 1, "{:?} -> {:?}", line, text);
        }

        /// Near-valid lines: the answer is the value, or an error, as the
        /// 128-bit truth says.
        #[test]
        fn near_valid_lines_get_the_right_answer(
            fields in prop::collection::vec(prop_oneof![
                any::<i64>().prop_map(|n| n.to_string()),
                (-1000i64..1000).prop_map(|n| format!(" {n} ")),
                "[-+ 0-9a-z.]{0,4}",
            ], 1..6),
            product in any::<bool>(),
        ) {
            let line = fields.join(",");
            let mode = if product { Mode::Product } else { Mode::Sum };
            let mut s = Session::new();
            if product { s.reply("product"); }
            let text = s.reply(&line).text();
            match truth(&line, mode) {
                Truth::Value(v) => prop_assert_eq!(text, format!("{v}\n")),
                Truth::Malformed(_) | Truth::Overflows => prop_assert!(text.starts_with("error: "), "{:?} -> {:?}", line, text),
                Truth::ValueOrError(_) => {}
            }
        }
    }
}
