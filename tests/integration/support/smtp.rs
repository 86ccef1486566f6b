//! A real SMTP server on 127.0.0.1:0: mailin's protocol engine over std
//! sockets, one thread per connection. It can be told to refuse messages with
//! a 4xx, and tests wait for messages on a condition variable, never a sleep.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mailin::{Action, Handler, Response, SessionBuilder, response};

#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

#[derive(Default)]
struct State {
    messages: Vec<Received>,
    refuse: bool,
    /// Recipients answered with 550 at RCPT (a permanent, per-recipient failure).
    unknown_recipients: Vec<String>,
    /// While set, the reply to a message's final dot waits (a send in flight).
    hold: bool,
    /// Messages whose reply is being held right now.
    held: usize,
    /// While set, a message is taken and the connection closed without a
    /// reply to its final dot (the relay queued it; the reply was lost).
    vanish: bool,
}

#[derive(Clone, Default)]
struct Shared {
    state: Arc<(Mutex<State>, Condvar)>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct SmtpServer {
    pub port: u16,
    shared: Shared,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Shared::default();
        let accept_shared = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = accept_shared.clone();
                std::thread::spawn(move || serve(stream, shared));
            }
        });
        SmtpServer { port, shared }
    }

    /// From now on, answer every message with `451` (or accept again).
    pub fn refuse(&self, refuse: bool) {
        self.shared.lock().refuse = refuse;
    }

    /// While `hold` is set, a received message gets no reply: its sender is
    /// stuck in the middle of a send. Clearing it lets the replies go.
    pub fn hold(&self, hold: bool) {
        self.shared.lock().hold = hold;
        self.shared.state.1.notify_all();
    }

    /// From now on, take each message and hang up before replying (or reply again).
    pub fn vanish_after_data(&self, vanish: bool) {
        self.shared.lock().vanish = vanish;
    }

    /// Waits until a message is held (its sender is mid-send), or `timeout`.
    pub fn wait_until_held(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (lock, condvar) = &*self.shared.state;
        let mut state = lock.lock().unwrap_or_else(|p| p.into_inner());
        while state.held == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = condvar
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// From now on, answer RCPT for `email` with `550 Mailbox unavailable`.
    pub fn reject_recipient(&self, email: &str, reject: bool) {
        let mut state = self.shared.lock();
        state.unknown_recipients.retain(|e| e != email);
        if reject {
            state.unknown_recipients.push(email.to_owned());
        }
    }

    pub fn messages(&self) -> Vec<Received> {
        self.shared.lock().messages.clone()
    }

    /// Waits until at least `n` messages arrived, or `timeout` passed.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        let (lock, condvar) = &*self.shared.state;
        let mut state = lock.lock().unwrap_or_else(|p| p.into_inner());
        while state.messages.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = condvar
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        state.messages.clone()
    }
}

struct Session {
    shared: Shared,
    to: Vec<String>,
    data: Vec<u8>,
    /// mailin stays in its DATA state after a refused message (it would
    /// swallow the client's next command), so a refusal also ends the connection.
    hang_up: Arc<std::sync::atomic::AtomicBool>,
    /// The next reply is not written: the connection just closes.
    silent: Arc<std::sync::atomic::AtomicBool>,
}

impl Handler for Session {
    fn rcpt(&mut self, to: &str) -> Response {
        if self.shared.lock().unknown_recipients.iter().any(|e| e == to) {
            return response::NO_MAILBOX;
        }
        response::OK
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let (lock, condvar) = &*self.shared.state;
        let mut state = lock.lock().unwrap_or_else(|p| p.into_inner());
        if state.hold {
            state.held += 1;
            condvar.notify_all();
            while state.hold {
                state = condvar.wait(state).unwrap_or_else(|p| p.into_inner());
            }
            state.held -= 1;
        }
        if state.refuse {
            self.hang_up.store(true, std::sync::atomic::Ordering::SeqCst);
            return response::INTERNAL_ERROR;
        }
        state.messages.push(Received {
            to: self.to.clone(),
            data: std::mem::take(&mut self.data),
        });
        if state.vanish {
            self.silent.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        drop(state);
        self.shared.state.1.notify_all();
        response::OK
    }
}

fn serve(stream: TcpStream, shared: Shared) {
    // Replies go out in small writes; without this, Nagle's algorithm delays
    // every SMTP command by a round trip.
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let hang_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let silent = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let handler = Session {
        shared,
        to: Vec::new(),
        data: Vec::new(),
        hang_up: hang_up.clone(),
        silent: silent.clone(),
    };
    let mut session = SessionBuilder::new("test.smtp.local").build(peer, handler);
    if session.greeting().write_to(&mut writer).is_err() {
        return;
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let response = session.process(&line);
        if silent.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        match response.action {
            Action::Reply => {
                if response.write_to(&mut writer).is_err()
                    || hang_up.load(std::sync::atomic::Ordering::SeqCst)
                {
                    return;
                }
            }
            Action::Close => {
                let _ = response.write_to(&mut writer);
                let _ = writer.flush();
                return;
            }
            Action::UpgradeTls => return,
            Action::NoReply => {}
        }
    }
}
