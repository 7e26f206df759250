//! The fastwebsockets side: an echo server and a client written as its documentation shows (frame-level calls, `FragmentCollector` for whole messages), with the same 16 MiB message limit as nethttp.

use std::io;
use std::time::{Duration, Instant};

use fastwebsockets::{
    FragmentCollector, FragmentCollectorRead, Frame, OpCode, Payload, Role, WebSocket,
    WebSocketError,
};
use tokio::net::TcpStream;

use crate::cases::{Case, Mode, MAX_MESSAGE};

fn err(e: WebSocketError) -> io::Error {
    io::Error::other(e)
}

fn socket(stream: TcpStream, role: Role) -> WebSocket<TcpStream> {
    let mut ws = WebSocket::after_handshake(stream, role);
    // The crate refuses a frame whose length is >= the limit; +1 admits exactly 16 MiB.
    ws.set_max_message_size(MAX_MESSAGE + 1);
    ws
}

/// Echoes every data message until the peer closes (the crate answers the close itself).
/// `FragmentCollector` gives whole messages, as tungstenite's `Stream` does; it also returns
/// frames without the client's masking key, which a raw `WebSocket` frame would keep and put
/// back in the echo's header.
pub async fn serve(stream: TcpStream) -> io::Result<()> {
    let mut ws = FragmentCollector::new(socket(stream, Role::Server));
    loop {
        let frame = ws.read_frame().await.map_err(err)?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await.map_err(err)?,
            _ => {}
        }
    }
}

fn outgoing(case: Case, payload: &[u8]) -> Frame<'_> {
    // Borrowed: the crate copies it before masking, as it must not change the caller's data.
    let p = Payload::Borrowed(payload);
    if case.text {
        Frame::text(p)
    } else {
        Frame::binary(p)
    }
}

fn check(frame: &Frame<'_>, case: Case, payload: &[u8]) -> io::Result<()> {
    let want = if case.text {
        OpCode::Text
    } else {
        OpCode::Binary
    };
    if frame.opcode != want || &frame.payload[..] != payload {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "echo differs"));
    }
    Ok(())
}

/// The client-role run: `count` messages to the echo server, their echoes checked; returns
/// the time the exchanges took.
pub async fn client(
    stream: TcpStream,
    case: Case,
    mode: Mode,
    count: usize,
) -> io::Result<Duration> {
    stream.set_nodelay(true)?;
    let payload = case.payload();
    match mode {
        Mode::Seq => {
            let mut ws = FragmentCollector::new(socket(stream, Role::Client));
            let start = Instant::now();
            for _ in 0..count {
                ws.write_frame(outgoing(case, &payload))
                    .await
                    .map_err(err)?;
                check(&ws.read_frame().await.map_err(err)?, case, &payload)?;
            }
            let elapsed = start.elapsed();
            ws.write_frame(Frame::close(1000, b"")).await.map_err(err)?;
            while ws.read_frame().await.map_err(err)?.opcode != OpCode::Close {}
            Ok(elapsed)
        }
        Mode::Pipe => {
            let (rd, mut wr) = socket(stream, Role::Client).split(TcpStream::into_split);
            let mut rd = FragmentCollectorRead::new(rd);
            // Replies the read half owes (pongs, the close echo) go to the write half in real
            // use; the fixed server sends no pings and the close is ours, so none are owed.
            let mut owed = |_: Frame<'_>| async { Ok::<(), io::Error>(()) };
            let start = Instant::now();
            let writer = async {
                for _ in 0..count {
                    wr.write_frame(outgoing(case, &payload))
                        .await
                        .map_err(err)?;
                }
                Ok::<_, io::Error>(())
            };
            let reader = async {
                for _ in 0..count {
                    check(
                        &rd.read_frame(&mut owed).await.map_err(err)?,
                        case,
                        &payload,
                    )?;
                }
                Ok(())
            };
            tokio::try_join!(writer, reader)?;
            let elapsed = start.elapsed();
            wr.write_frame(Frame::close(1000, b"")).await.map_err(err)?;
            while rd.read_frame(&mut owed).await.map_err(err)?.opcode != OpCode::Close {}
            Ok(elapsed)
        }
    }
}
