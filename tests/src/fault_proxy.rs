//! A fault-injecting HTTP proxy between the service's DynamoDB client and DynamoDB Local.
//!
//! It forwards every request (HTTP/1.1, keep-alive) and, when a rule matches the call, injects one
//! of the faults a network or DynamoDB can cause:
//!
//! | [`Fault`] | forwarded? | what the client sees |
//! |---|---|---|
//! | `DropResponse` | yes, and DynamoDB's answer is read | the connection closes with no answer: the write may be applied, the SDK retries |
//! | `DelayResponse(d)` | yes | the answer after `d` (past the 2 s attempt timeout: the SDK gives up on it and retries) |
//! | `DelayRequest(d)` | yes, after `d` | a request that reaches DynamoDB late (possibly after the SDK retried) |
//! | `ResetBeforeForward` | no | a TCP reset (RST) as soon as the request is read |
//! | `Throttle` | no | `400 ProvisionedThroughputExceededException` |
//! | `InternalError` | no | `500 InternalServerError` |
//!
//! Rules are chosen per DynamoDB operation (the `X-Amz-Target` header: `UpdateItem`, `Query`, …)
//! and per call: the n-th call of that operation from now ([`FaultProxy::nth`]), every call
//! ([`FaultProxy::always`]), or a share of calls drawn from a seeded generator
//! ([`FaultProxy::share`]). Every call is recorded ([`FaultProxy::calls`]), with the fault it got.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What happens to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward, read DynamoDB's answer, then close the client's connection without answering.
    DropResponse,
    /// Forward, then hold DynamoDB's answer this long before passing it on.
    DelayResponse(Duration),
    /// Hold the request this long, then forward it and pass the answer on.
    DelayRequest(Duration),
    /// Reset the client's connection without forwarding.
    ResetBeforeForward,
    /// Answer `ProvisionedThroughputExceededException` without forwarding.
    Throttle,
    /// Answer `InternalServerError` without forwarding.
    InternalError,
}

impl Fault {
    /// Whether DynamoDB sees the request.
    pub fn forwards(self) -> bool {
        matches!(
            self,
            Fault::DropResponse | Fault::DelayResponse(_) | Fault::DelayRequest(_)
        )
    }
}

/// One call seen by the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The DynamoDB operation (`UpdateItem`, ...).
    pub op: String,
    /// The fault it got, if any.
    pub fault: Option<Fault>,
}

#[derive(Debug, Clone)]
enum When {
    /// The call of `op` whose count (since the proxy started) is this.
    Count(usize),
    Always,
    /// A share of calls, decided by the proxy's generator; never the same request twice when the
    /// flag is set (a retry is the same bytes), so every call gets through on a retry.
    Share(f64, bool),
}

#[derive(Debug, Clone)]
struct Rule {
    op: Option<String>,
    when: When,
    fault: Fault,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    counts: HashMap<String, usize>,
    calls: Vec<Call>,
    rng: u64,
    /// Hashes of the requests a once-only share rule has faulted.
    faulted: std::collections::HashSet<u64>,
}

impl State {
    /// Counts the call (`body` is its request body) and picks its fault.
    fn decide(&mut self, op: &str, body: &[u8]) -> Option<Fault> {
        let count = {
            let count = self.counts.entry(op.to_owned()).or_default();
            *count += 1;
            *count
        };
        let mut fault = None;
        let mut spent = None;
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.op.as_deref().is_some_and(|o| o != op) {
                continue;
            }
            let hit = match rule.when {
                When::Count(n) => n == count,
                When::Always => true,
                When::Share(share, once) => {
                    // xorshift64*: deterministic for a seed, good enough to spread faults.
                    self.rng ^= self.rng >> 12;
                    self.rng ^= self.rng << 25;
                    self.rng ^= self.rng >> 27;
                    let draw = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
                    let drawn = (draw as f64 / (1u64 << 53) as f64) < share;
                    if drawn && once {
                        use std::hash::{Hash, Hasher};
                        let mut hasher = std::collections::hash_map::DefaultHasher::new();
                        body.hash(&mut hasher);
                        self.faulted.insert(hasher.finish())
                    } else {
                        drawn
                    }
                }
            };
            if hit {
                fault = Some(rule.fault);
                if matches!(rule.when, When::Count(_)) {
                    spent = Some(i);
                }
                break;
            }
        }
        if let Some(i) = spent {
            self.rules.remove(i);
        }
        self.calls.push(Call {
            op: op.to_owned(),
            fault,
        });
        fault
    }
}

/// The proxy, listening on a free port until dropped.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`: give it to the DynamoDB client as its endpoint.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let endpoint = format!("http://{}", listener.local_addr().expect("an address"));
        let state = Arc::new(Mutex::new(State {
            rng: 0x9e37_79b9_7f4a_7c15,
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                tokio::spawn(serve(client, upstream.clone(), Arc::clone(&shared)));
            }
        });
        Self {
            endpoint,
            state,
            task,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Injects `fault` into the `n`-th call of `op` from now (1 = the next one).
    pub fn nth(&self, op: &str, n: usize, fault: Fault) {
        let mut state = self.state();
        let seen = state.counts.get(op).copied().unwrap_or(0);
        state.rules.push(Rule {
            op: Some(op.to_owned()),
            when: When::Count(seen + n),
            fault,
        });
    }

    /// Injects `fault` into every call of `op` (every call when `op` is `None`) until [`Self::clear`].
    pub fn always(&self, op: Option<&str>, fault: Fault) {
        self.state().rules.push(Rule {
            op: op.map(str::to_owned),
            when: When::Always,
            fault,
        });
    }

    /// Injects `fault` into a `share` (0 to 1) of the calls of `op` (of every call when `None`),
    /// drawn from a generator seeded with `seed`. With `once`, a request is faulted at most once
    /// (its retries, the same bytes, go through), so that no call fails for good.
    pub fn share(&self, op: Option<&str>, share: f64, fault: Fault, seed: u64, once: bool) {
        let mut state = self.state();
        state.rng = seed | 1;
        state.rules.push(Rule {
            op: op.map(str::to_owned),
            when: When::Share(share, once),
            fault,
        });
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.state().rules.clear();
    }

    /// Every call seen so far, in order, and forgets them.
    pub fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut self.state().calls)
    }
}

/// One request as read from the client: its head (to forward as is) and body.
struct Incoming {
    head: Vec<u8>,
    body: Vec<u8>,
    op: String,
}

/// Serves one client connection: request after request, until it closes or a fault ends it.
async fn serve(mut client: TcpStream, upstream: String, state: Arc<Mutex<State>>) {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(&mut client, &mut buffer).await else {
            return;
        };
        let fault = state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .decide(&request.op, &request.body);
        match fault {
            Some(Fault::ResetBeforeForward) => {
                reset(client);
                return;
            }
            Some(Fault::Throttle) => {
                let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded (injected by the fault proxy)."}"#;
                if write_answer(&mut client, "400 Bad Request", body)
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            Some(Fault::InternalError) => {
                let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error (injected by the fault proxy)"}"#;
                if write_answer(&mut client, "500 Internal Server Error", body)
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            Some(Fault::DelayRequest(delay)) => tokio::time::sleep(delay).await,
            _ => {}
        }
        let Ok(answer) = forward(&upstream, &request).await else {
            reset(client);
            return;
        };
        match fault {
            Some(Fault::DropResponse) => {
                // DynamoDB has answered (the write is applied); the client never hears of it.
                let _ = client.shutdown().await;
                return;
            }
            Some(Fault::DelayResponse(delay)) => tokio::time::sleep(delay).await,
            _ => {}
        }
        if client.write_all(&answer).await.is_err() {
            return;
        }
    }
}

/// Closes `stream` with a TCP reset.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

async fn write_answer(client: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\nx-amzn-requestid: fault-proxy\r\n\r\n{body}",
        body.len()
    );
    client.write_all(answer.as_bytes()).await
}

/// Reads one HTTP/1.1 message (head and `content-length` body) from `stream`, `buffer` holding
/// what was read past the previous one. `None` when the peer closed or sent something else.
async fn read_message(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    is_request: bool,
) -> Option<(Vec<u8>, Vec<u8>, Vec<(String, String)>)> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let parsed = if is_request {
            httparse::Request::new(&mut headers).parse(buffer)
        } else {
            httparse::Response::new(&mut headers).parse(buffer)
        };
        match parsed {
            Ok(httparse::Status::Complete(head_len)) => {
                let headers: Vec<(String, String)> = headers
                    .iter()
                    .take_while(|h| !h.name.is_empty())
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                let chunked = headers.iter().any(|(name, v)| {
                    name == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked")
                });
                let length = if chunked {
                    loop {
                        if let Some(length) = chunked_length(&buffer[head_len..]) {
                            break length;
                        }
                        let n = stream.read(&mut chunk).await.ok()?;
                        if n == 0 {
                            return None;
                        }
                        buffer.extend_from_slice(&chunk[..n]);
                    }
                } else {
                    headers
                        .iter()
                        .find(|(name, _)| name == "content-length")
                        .and_then(|(_, v)| v.trim().parse().ok())
                        .unwrap_or(0)
                };
                while buffer.len() < head_len + length {
                    let n = stream.read(&mut chunk).await.ok()?;
                    if n == 0 {
                        return None;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                }
                let rest = buffer.split_off(head_len + length);
                let body = buffer.split_off(head_len);
                let head = std::mem::replace(buffer, rest);
                return Some((head, body, headers));
            }
            Ok(httparse::Status::Partial) => {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            Err(_) => return None,
        }
    }
}

/// The length of a complete chunked body at the start of `bytes` (kept encoded, as the client
/// decodes it), or `None` while it is incomplete.
fn chunked_length(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let line_end = at + bytes[at..].windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&bytes[at..line_end]).ok()?;
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            // Trailers (none expected), then the empty line.
            loop {
                let end = at + bytes[at..].windows(2).position(|w| w == b"\r\n")?;
                let empty = end == at;
                at = end + 2;
                if empty {
                    return Some(at);
                }
            }
        }
        at += size + 2;
        if at > bytes.len() {
            return None;
        }
    }
}

async fn read_request(client: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Incoming> {
    let (head, body, headers) = read_message(client, buffer, true).await?;
    let op = headers
        .iter()
        .find(|(name, _)| name == "x-amz-target")
        .and_then(|(_, v)| v.rsplit('.').next())
        .unwrap_or("unknown")
        .to_owned();
    Some(Incoming { head, body, op })
}

/// Sends `request` to DynamoDB on a connection of its own (never resent: a request the proxy sent
/// twice would look like a double application) and returns the whole answer as bytes.
async fn forward(upstream: &str, request: &Incoming) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(upstream).await?;
    stream.set_nodelay(true)?;
    stream.write_all(&request.head).await?;
    stream.write_all(&request.body).await?;
    let mut buffer = Vec::new();
    let (mut head, body, _) = read_message(&mut stream, &mut buffer, false)
        .await
        .ok_or_else(|| std::io::Error::other("DynamoDB closed the connection"))?;
    head.extend_from_slice(&body);
    Ok(head)
}
