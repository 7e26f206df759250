//! The fixed peers: a client that sends pre-masked frames and checks the echoes byte for byte, and an echo server that parses and unmasks with a few lines of code. Each is the same whichever crate is measured against it.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};

use crate::cases::{self, Case, Mode, MASK, OP_CLOSE};

/// How many bytes the pipelined client hands the socket per write: whole frames, copies of
/// the same one, so that its own cost per message stays far below the server's.
const BATCH: usize = 64 << 10;

fn mismatch(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Runs `count` echo exchanges of `case` against the server at `addr` and returns the time
/// they took (connect and close excluded). Every echoed byte is compared with what was sent.
pub async fn client(
    addr: SocketAddr,
    case: Case,
    mode: Mode,
    count: usize,
) -> io::Result<Duration> {
    let payload = case.payload();
    let send = cases::frame(case.opcode(), &payload, Some(MASK));
    let expect = cases::frame(case.opcode(), &payload, None);
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;

    let start = Instant::now();
    match mode {
        Mode::Seq => {
            let mut buf = vec![0u8; expect.len()];
            for _ in 0..count {
                stream.write_all(&send).await?;
                stream.read_exact(&mut buf).await?;
                if buf != expect {
                    return Err(mismatch("echo differs from the message sent"));
                }
            }
        }
        Mode::Pipe => {
            let per_batch = (BATCH / send.len()).max(1);
            let batch: Vec<u8> = send.repeat(per_batch);
            let (mut rd, mut wr) = stream.split();
            let writer = async {
                let mut left = count;
                while left > 0 {
                    let n = left.min(per_batch);
                    wr.write_all(&batch[..n * send.len()]).await?;
                    left -= n;
                }
                Ok::<_, io::Error>(())
            };
            let reader = async {
                let total = count * expect.len();
                let mut buf = vec![0u8; BATCH.max(expect.len())];
                let mut seen = 0usize;
                while seen < total {
                    let want = buf.len().min(total - seen);
                    let n = rd.read(&mut buf[..want]).await?;
                    if n == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    check_cyclic(&buf[..n], seen, &expect)?;
                    seen += n;
                }
                Ok(())
            };
            tokio::try_join!(writer, reader)?;
        }
    }
    let elapsed = start.elapsed();

    // Close handshake: a masked close frame with status 1000, then the peer's close and EOF.
    stream
        .write_all(&cases::frame(OP_CLOSE, &1000u16.to_be_bytes(), Some(MASK)))
        .await?;
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await?;
    if rest.first().map(|b| b & 0x0f) != Some(OP_CLOSE) {
        return Err(mismatch("no close frame in reply to ours"));
    }
    Ok(elapsed)
}

/// Checks `chunk`, found at `offset` in a stream of back-to-back copies of `expect`.
fn check_cyclic(mut chunk: &[u8], offset: usize, expect: &[u8]) -> io::Result<()> {
    let mut at = offset % expect.len();
    while !chunk.is_empty() {
        let n = chunk.len().min(expect.len() - at);
        if chunk[..n] != expect[at..at + n] {
            return Err(mismatch("pipelined echo differs from the messages sent"));
        }
        chunk = &chunk[n..];
        at = 0;
    }
    Ok(())
}

/// Echo server for the client-role measurement: serves `conns` connections one after the
/// other (unbounded if `None`), then returns. It gives up after `idle` without a connection.
pub async fn server(listener: TcpListener, conns: Option<usize>, idle: Duration) -> io::Result<()> {
    let mut served = 0;
    while conns.is_none_or(|c| served < c) {
        let (stream, _) = tokio::time::timeout(idle, listener.accept())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no connection came"))??;
        stream.set_nodelay(true)?;
        if let Err(e) = echo(stream).await {
            eprintln!("fixed server: connection failed: {e}");
        }
        served += 1;
    }
    Ok(())
}

/// Reads masked frames, writes each back unmasked; answers a close frame with one and ends.
/// Replies are buffered and flushed whenever no more input is already at hand, so a
/// pipelined client's echoes go out in large writes.
async fn echo(stream: TcpStream) -> io::Result<()> {
    let (rd, wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(64 << 10, rd);
    let mut wr = BufWriter::with_capacity(64 << 10, wr);
    let mut payload = Vec::new();
    let mut head = Vec::with_capacity(14);
    loop {
        if rd.buffer().is_empty() {
            wr.flush().await?;
        }
        let b0 = rd.read_u8().await?;
        let b1 = rd.read_u8().await?;
        let opcode = b0 & 0x0f;
        if b0 & 0x80 == 0 || b1 & 0x80 == 0 {
            return Err(mismatch("fragmented or unmasked frame from the client"));
        }
        let len = match b1 & 0x7f {
            126 => rd.read_u16().await? as usize,
            127 => rd.read_u64().await? as usize,
            n => n as usize,
        };
        let mut key = [0u8; 4];
        rd.read_exact(&mut key).await?;
        payload.resize(len, 0);
        rd.read_exact(&mut payload).await?;
        cases::apply_mask(&mut payload, key, 0);
        head.clear();
        cases::put_header(&mut head, opcode, len, None);
        wr.write_all(&head).await?;
        wr.write_all(&payload).await?;
        if opcode == OP_CLOSE {
            wr.flush().await?;
            wr.shutdown().await?;
            return Ok(());
        }
    }
}
