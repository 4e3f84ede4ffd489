//! JSON-RPC over standard input and output, framed by `Content-Length` headers, for the server.
//!
//! lsp-server's own stdio transport allocates whatever length a header states (a huge one aborts
//! the process) and ends the session without a word at a message that is not JSON. Here a message
//! longer than [`MAX_MESSAGE_BYTES`] is read past and skipped, one that is not JSON-RPC is skipped,
//! each with a line on standard error; a stream whose framing is broken (a header that is not
//! one) ends the session with an error, since no later message can be found in it.

use std::io::{self, BufRead, Read, Write};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{bounded, Receiver, Sender};
use lsp_server::{Connection, Message};

/// The longest message the server reads.
pub const MAX_MESSAGE_BYTES: u64 = 64 << 20;
/// The longest header line.
const MAX_HEADER_BYTES: u64 = 4096;

/// What became of the input: why it ended, if not at its end.
pub type Ending = Arc<Mutex<Option<String>>>;

/// A connection over standard input and output; the ending says why reading stopped, when it
/// stopped on a broken stream.
pub fn stdio() -> (Connection, Ending) {
    let (to_client, outgoing): (Sender<Message>, Receiver<Message>) = bounded(0);
    std::thread::spawn(move || {
        let mut stdout = io::stdout().lock();
        for message in outgoing {
            if message.write(&mut stdout).and_then(|()| stdout.flush()).is_err() {
                break;
            }
        }
    });
    let (incoming, from_client) = bounded(0);
    let ending: Ending = Arc::default();
    let ended = Arc::clone(&ending);
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        let log = |line: String| eprintln!("sprs lsp: {}", crate::escape::line(&line));
        loop {
            match read(&mut stdin, log) {
                Ok(Some(message)) => {
                    if incoming.send(message).is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    log(format!("the input cannot be read on: {error}"));
                    *ended.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_string());
                    break;
                }
            }
        }
    });
    (Connection { sender: to_client, receiver: from_client }, ending)
}

/// The next message of `input`: `None` at its end. A message too long, or whose body is not a
/// JSON-RPC message, is told to `log` and skipped; an error is a stream whose framing is broken.
pub fn read(input: &mut impl BufRead, mut log: impl FnMut(String)) -> io::Result<Option<Message>> {
    loop {
        let Some(length) = header(input)? else { return Ok(None) };
        if length > MAX_MESSAGE_BYTES {
            let skipped = io::copy(&mut input.take(length), &mut io::sink())?;
            log(format!("a message of {length} bytes, more than {MAX_MESSAGE_BYTES}: skipped"));
            if skipped < length {
                return Ok(None);
            }
            continue;
        }
        let mut body = Vec::with_capacity(length as usize);
        input.take(length).read_to_end(&mut body)?;
        if (body.len() as u64) < length {
            return Ok(None);
        }
        match serde_json::from_slice::<Message>(&body) {
            Ok(message) => return Ok(Some(message)),
            Err(error) => log(format!("a message that is not JSON-RPC ({error}): skipped")),
        }
    }
}

/// The `Content-Length` of the next message's headers; `None` at the input's end.
fn header(input: &mut impl BufRead) -> io::Result<Option<u64>> {
    let broken = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let mut length = None;
    loop {
        let mut line = Vec::new();
        if input.take(MAX_HEADER_BYTES + 1).read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        let Some(line) = line.strip_suffix(b"\r\n") else {
            return Err(broken(format!("a header line of {} bytes that does not end in CRLF", line.len())));
        };
        if line.is_empty() {
            return length.map(Some).ok_or_else(|| broken("a message without Content-Length".into()));
        }
        let line = String::from_utf8_lossy(line);
        let (name, value) = line.split_once(": ").ok_or_else(|| broken(format!("a header `{line}`")))?;
        if name.eq_ignore_ascii_case("Content-Length") {
            length = Some(value.trim().parse().map_err(|_| broken(format!("a Content-Length of `{value}`")))?);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(body: &[u8]) -> Vec<u8> {
        [format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes(), body].concat()
    }

    #[test]
    fn messages_too_long_or_not_json_rpc_are_skipped() {
        let good = br#"{"jsonrpc": "2.0", "method": "initialized", "params": {}}"#;
        let mut input = framed(b"{not json");
        input.extend(framed(&[0xff, 0xfe]));
        input.extend(b"Content-Length: 67108865\r\n\r\n");
        input.extend(vec![b' '; 67_108_865]);
        input.extend(framed(good));
        let mut logged = Vec::new();
        let mut reader = io::BufReader::new(input.as_slice());
        let message = read(&mut reader, |line| logged.push(line)).unwrap();
        assert!(matches!(message, Some(Message::Notification(n)) if n.method == "initialized"));
        assert_eq!(logged.len(), 3, "{logged:?}");
        assert!(read(&mut reader, |_| ()).unwrap().is_none());
    }

    #[test]
    fn a_broken_frame_is_an_error_and_a_huge_length_allocates_nothing() {
        let mut reader = io::BufReader::new(&b"Content-Length: 10\nx"[..]);
        assert!(read(&mut reader, |_| ()).is_err());
        let long = [vec![b'a'; 10_000], b"\r\n".to_vec()].concat();
        assert!(read(&mut io::BufReader::new(long.as_slice()), |_| ()).is_err());
        // A length the input does not hold ends it, without allocating the length.
        let huge = b"Content-Length: 18446744073709551615\r\n\r\n{}";
        assert!(read(&mut io::BufReader::new(&huge[..]), |_| ()).unwrap().is_none());
    }
}
