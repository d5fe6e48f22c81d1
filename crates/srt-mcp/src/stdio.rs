//! The stdio transport with the HTTP transport's guards: a message larger
//! than 4 MiB, or one that is not JSON (nested too deeply, say), gets a
//! JSON-RPC error on stdout instead of being dropped while the client waits
//! forever. Valid lines pass through to rmcp unchanged; rmcp's answers and
//! these errors reach stdout as whole lines, one at a time.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::sync::mpsc;

/// The largest message accepted (as over HTTP).
pub const MAX_MESSAGE: usize = 4 << 20;

/// What is wrong with one line read from stdin, if anything: the JSON-RPC
/// error to answer with.
pub fn check_line(line: &[u8], too_long: bool) -> Option<String> {
    let error = |code: i64, message: &str| {
        serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}}).to_string()
    };
    if too_long {
        return Some(error(-32600, "Invalid Request: the message is larger than 4 MiB"));
    }
    let text = line.strip_suffix(b"\n").unwrap_or(line);
    if text.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    serde_json::from_slice::<serde_json::Value>(text).err().map(|e| error(-32700, &format!("Parse error: {e}")))
}

/// rmcp's side of the transport (what it reads, where it writes), and the
/// task that copies its answers to stdout: await it after the session ends,
/// so that the last answers are written before the process exits.
pub fn transport() -> ((DuplexStream, DuplexStream), tokio::task::JoinHandle<()>) {
    let (rmcp_in, mut feed) = tokio::io::duplex(1 << 16);
    let (rmcp_out, answers) = tokio::io::duplex(1 << 16);
    let (errors_tx, mut errors_rx) = mpsc::channel::<String>(16);
    // stdin → checks → rmcp, or an error line → stdout.
    tokio::spawn(async move {
        let mut stdin = BufReader::new(tokio::io::stdin());
        loop {
            let mut line = Vec::new();
            let n = match (&mut stdin).take(MAX_MESSAGE as u64 + 1).read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let too_long = n > MAX_MESSAGE && !line.ends_with(b"\n");
            if too_long {
                // Skip the rest of the oversized line.
                let mut rest = Vec::new();
                if stdin.read_until(b'\n', &mut rest).await.is_err() {
                    break;
                }
            }
            match check_line(&line, too_long) {
                Some(err) => {
                    if errors_tx.send(err).await.is_err() {
                        break;
                    }
                }
                None => {
                    if feed.write_all(&line).await.is_err() {
                        break;
                    }
                }
            }
        }
        // End of input: rmcp sees it and ends the session.
        let _ = feed.shutdown().await;
    });
    // rmcp's answers and the errors → stdout, whole lines.
    let writer = tokio::spawn(async move {
        let mut answers = BufReader::new(answers);
        let mut stdout = tokio::io::stdout();
        let mut errors_open = true;
        loop {
            let mut line = Vec::new();
            tokio::select! {
                n = answers.read_until(b'\n', &mut line) => match n {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                },
                e = errors_rx.recv(), if errors_open => match e {
                    Some(e) => line = format!("{e}\n").into_bytes(),
                    None => {
                        errors_open = false;
                        continue;
                    }
                },
            }
            if stdout.write_all(&line).await.is_err() || stdout.flush().await.is_err() {
                break;
            }
        }
    });
    ((rmcp_in, rmcp_out), writer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_checked() {
        assert_eq!(check_line(b"{\"jsonrpc\":\"2.0\"}\n", false), None);
        assert_eq!(check_line(b"\n", false), None);
        let deep = format!("{{\"a\":{}{}}}\n", "[".repeat(10_000), "]".repeat(10_000));
        assert!(check_line(deep.as_bytes(), false).unwrap().contains("-32700"));
        assert!(check_line(b"{not json\n", false).unwrap().contains("Parse error"));
        assert!(check_line(b"", true).unwrap().contains("larger than 4 MiB"));
    }
}
