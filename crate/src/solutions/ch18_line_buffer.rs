use concurrency_lab::server::MAX_LINE;

/// Adds the bytes of one read to what this connection had pending, and
/// takes out every complete line (without its `\n` or `\r\n`). What is left
/// in `pending` is the start of a line whose end has not arrived yet.
pub fn split_lines(pending: &mut Vec<u8>, incoming: &[u8]) -> Result<Vec<String>, String> {
    pending.extend_from_slice(incoming);
    let mut lines = Vec::new();
    while let Some(end) = pending.iter().position(|&b| b == b'\n') {
        let mut line: Vec<u8> = pending.drain(..=end).collect(); // the line and its '\n'
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.len() > MAX_LINE {
            return Err(format!("a line of {} bytes; lines are at most {MAX_LINE} bytes", line.len()));
        }
        // Only whole lines become text: one character's bytes may come in two reads.
        lines.push(String::from_utf8(line).map_err(|_| "a line that is not UTF-8 text".to_string())?);
    }
    if pending.len() > MAX_LINE {
        return Err(format!("{} bytes and no newline yet; lines are at most {MAX_LINE} bytes", pending.len()));
    }
    Ok(lines)
}
