//! What the kernel knows of a TCP connection (`getsockopt(TCP_INFO)`, tcp(7)): bytes each
//! way, round-trip time, retransmissions. Read when the debug page is drawn, so the
//! connection's own path counts nothing.

use std::os::fd::RawFd;

/// A TCP connection's counters, as the kernel keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TcpStats {
    /// Bytes the peer has acknowledged (what was sent and arrived).
    pub bytes_sent: u64,
    /// Bytes received from the peer.
    pub bytes_received: u64,
    /// Smoothed round-trip time, in microseconds.
    pub rtt_us: u32,
    /// Segments retransmitted over the connection's life.
    pub retransmits: u32,
}

/// Reads `fd`'s TCP_INFO; `None` if it is not a TCP socket (a Unix socket, or a descriptor
/// that closed and was reused meanwhile) or the kernel is too old to report byte counts
/// (before 4.2).
pub(crate) fn read(fd: RawFd) -> Option<TcpStats> {
    // SAFETY: `tcp_info` is plain old data (integers only), so all-zero is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the pointer and length describe `info`, which lives through the call; the
    // kernel writes at most `len` bytes and reports how many in `len`. A descriptor that is
    // not a TCP socket makes the call fail (ENOTSOCK, EOPNOTSUPP), never write.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    // The byte counters end at `tcpi_bytes_received`; a shorter answer lacks them.
    let needed = std::mem::offset_of!(libc::tcp_info, tcpi_bytes_received) + 8;
    if rc != 0 || (len as usize) < needed {
        return None;
    }
    Some(TcpStats {
        bytes_sent: info.tcpi_bytes_acked,
        bytes_received: info.tcpi_bytes_received,
        rtt_us: info.tcpi_rtt,
        retransmits: info.tcpi_total_retrans,
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    #[test]
    fn counts_the_bytes_of_a_loopback_exchange() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        c.write_all(&[7u8; 1000]).unwrap();
        let mut buf = [0u8; 1000];
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"ok").unwrap();
        let mut two = [0u8; 2];
        c.read_exact(&mut two).unwrap();
        // `bytes_sent` counts acknowledged bytes: the peer's ACK may trail its read a little.
        let mut stats = super::read(s.as_raw_fd()).expect("a TCP socket");
        for _ in 0..100 {
            if stats.bytes_sent == 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            stats = super::read(s.as_raw_fd()).expect("a TCP socket");
        }
        assert_eq!((stats.bytes_received, stats.bytes_sent), (1000, 2));
        // Not a socket: no answer, no harm.
        let file = std::fs::File::open("/proc/self/status").unwrap();
        assert_eq!(super::read(file.as_raw_fd()), None);
    }
}
