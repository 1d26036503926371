use concurrency_lab::calculator::Mode;

/// The value of one line of the protocol: integers separated by commas,
/// added up (`Mode::Sum`) or multiplied (`Mode::Product`). Every way a line
/// can be wrong gets an `Err` that says what and where; nothing panics.
pub fn evaluate(line: &str, mode: Mode) -> Result<i64, String> {
    if line.trim().is_empty() {
        return Err("empty line: send integers separated by commas, e.g. 1,2".to_string());
    }
    let mut total: i64 = match mode {
        Mode::Sum => 0,
        Mode::Product => 1,
    };
    for (i, field) in line.split(',').enumerate() {
        let place = i + 1; // people count fields from 1
        let text = field.trim();
        if text.is_empty() {
            return Err(format!("field {place} is empty"));
        }
        let n: i64 = text.parse().map_err(|_| format!("field {place} ({text:?}) is not a whole number that fits in 64 bits"))?;
        let next = match mode {
            Mode::Sum => total.checked_add(n),     // `+` would panic (debug) or wrap (release)
            Mode::Product => total.checked_mul(n),
        };
        total = next.ok_or_else(|| format!("the {mode} overflows 64 bits at field {place}"))?;
    }
    Ok(total)
}
