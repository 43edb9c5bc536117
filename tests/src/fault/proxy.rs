//! A TCP proxy between an MQTT client (the server under test) and its broker that can drop the
//! client's PUBACKs: the broker then believes none of the messages it delivered was handled, and
//! delivers every one of them again on the client's next connection (its persistent session).
//!
//! Bytes from the broker pass through untouched. Bytes from the client are cut into MQTT 3.1.1
//! control packets ([`Framer`]: the packet type in the high nibble of the first byte, then the
//! variable-length "remaining length"); while dropping is on, a PUBACK (type 4) is counted and not
//! forwarded; everything else is forwarded in order. Each accepted connection gets its own
//! upstream connection; when either side closes, both are closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The MQTT control packet type of PUBACK.
pub const PUBACK: u8 = 4;

/// The remaining length took more than the four bytes MQTT allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedLength;

/// Cuts a byte stream into whole MQTT control packets, whatever the reads' boundaries: a packet
/// split across reads waits for its rest, several packets in one read come out one by one.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole packet (fixed header included), `Ok(None)` if it has not all arrived yet.
    pub fn next_packet(&mut self) -> Result<Option<Vec<u8>>, MalformedLength> {
        let Some(len) = packet_len(&self.buf)? else {
            return Ok(None);
        };
        Ok(Some(self.buf.drain(..len).collect()))
    }

    /// Bytes buffered that are not yet a whole packet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// The length of the packet at the start of `buf` (fixed header included) when all of it is
/// there, `Ok(None)` when more is needed.
pub fn packet_len(buf: &[u8]) -> Result<Option<usize>, MalformedLength> {
    let mut remaining: usize = 0;
    for i in 0..4 {
        let Some(&b) = buf.get(1 + i) else {
            return Ok(None);
        };
        remaining |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let total = 1 + (i + 1) + remaining;
            return Ok((buf.len() >= total).then_some(total));
        }
    }
    Err(MalformedLength)
}

/// The control packet type of a packet (the high nibble of its first byte).
pub fn packet_type(packet: &[u8]) -> u8 {
    packet.first().map_or(0, |b| b >> 4)
}

/// What the proxy's tasks share with its owner.
#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    /// Whether PUBACKs from the client are dropped now.
    dropping: AtomicBool,
    /// PUBACKs dropped so far.
    dropped: AtomicU64,
    /// PUBACKs forwarded so far.
    forwarded: AtomicU64,
    /// Client connections accepted so far.
    connections: AtomicU64,
    /// Bumped to close every open connection (a cut); `u64::MAX` when the proxy is dropped.
    cut: watch::Sender<u64>,
}

/// A PUBACK-dropping proxy (see the module doc), listening on a free loopback port. Dropping it
/// stops it and closes its connections.
pub struct PubackDropProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl PubackDropProxy {
    /// Starts a proxy to `upstream` (the broker), dropping PUBACKs from the start if `dropping`.
    pub async fn start(upstream: SocketAddr, dropping: bool) -> PubackDropProxy {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (cut, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            upstream,
            dropping: AtomicBool::new(dropping),
            dropped: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            cut,
        });
        let s = shared.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                s.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(client, s.clone()));
            }
        });
        PubackDropProxy {
            addr,
            shared,
            accept,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Switches PUBACK dropping on or off (for connections open now and later).
    pub fn set_dropping(&self, on: bool) {
        self.shared.dropping.store(on, Ordering::Release);
    }

    /// Whether PUBACKs are being dropped.
    pub fn dropping(&self) -> bool {
        self.shared.dropping.load(Ordering::Acquire)
    }

    /// PUBACKs dropped so far.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Acquire)
    }

    /// PUBACKs forwarded so far.
    pub fn forwarded(&self) -> u64 {
        self.shared.forwarded.load(Ordering::Acquire)
    }

    /// Client connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Acquire)
    }

    /// Closes every open connection, both sides (a network cut); new ones are still accepted.
    pub fn cut(&self) {
        self.shared.cut.send_modify(|g| *g = g.saturating_add(1));
    }
}

impl Drop for PubackDropProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.shared.cut.send_replace(u64::MAX);
    }
}

/// One client connection: its own upstream connection, bytes down as they are, packets up
/// through the filter, until either side closes or the proxy cuts.
async fn serve(client: TcpStream, s: Arc<Shared>) {
    let mut cut = s.cut.subscribe();
    if *cut.borrow_and_update() == u64::MAX {
        return;
    }
    // The client sees its connection closed and reconnects, as if the broker were down.
    let Ok(upstream) = TcpStream::connect(s.upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut broker_rx, mut broker_tx) = upstream.into_split();
    let down = tokio::io::copy(&mut broker_rx, &mut client_tx);
    let up = async {
        let mut framer = Framer::default();
        let mut buf = vec![0u8; 16 * 1024];
        let mut out = Vec::with_capacity(16 * 1024);
        loop {
            let n = client_rx.read(&mut buf).await?;
            if n == 0 {
                return Ok::<(), std::io::Error>(());
            }
            framer.push(&buf[..n]);
            out.clear();
            loop {
                match framer.next_packet() {
                    Ok(Some(p)) if packet_type(&p) == PUBACK => {
                        if s.dropping.load(Ordering::Acquire) {
                            s.dropped.fetch_add(1, Ordering::AcqRel);
                        } else {
                            s.forwarded.fetch_add(1, Ordering::AcqRel);
                            out.extend_from_slice(&p);
                        }
                    }
                    Ok(Some(p)) => out.extend_from_slice(&p),
                    Ok(None) => break,
                    Err(MalformedLength) => {
                        return Err(std::io::Error::other("malformed MQTT remaining length"));
                    }
                }
            }
            broker_tx.write_all(&out).await?;
        }
    };
    tokio::select! {
        _ = down => {}
        _ = up => {}
        _ = cut.changed() => {}
    }
    // Dropping the halves closes both sockets.
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PUBACK for packet id 7, a PINGREQ, and a PUBLISH whose remaining length takes two bytes.
    fn packets() -> Vec<Vec<u8>> {
        let puback = vec![0x40, 0x02, 0x00, 0x07];
        let pingreq = vec![0xc0, 0x00];
        let mut publish = vec![0x32, 0xc8, 0x01]; // QoS 1 PUBLISH, remaining length 200
        publish.extend(std::iter::repeat_n(0xab, 200));
        vec![puback, pingreq, publish]
    }

    fn drain(f: &mut Framer) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(p) = f.next_packet().expect("well formed") {
            out.push(p);
        }
        out
    }

    #[test]
    fn several_packets_in_one_read_come_out_one_by_one() {
        let mut f = Framer::default();
        f.push(&packets().concat());
        let got = drain(&mut f);
        assert_eq!(got, packets());
        assert_eq!(
            got.iter().map(|p| packet_type(p)).collect::<Vec<_>>(),
            vec![PUBACK, 12, 3]
        );
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn a_packet_split_across_reads_at_every_byte_waits_for_its_rest() {
        let stream = packets().concat();
        for cut in 1..stream.len() {
            let mut f = Framer::default();
            f.push(&stream[..cut]);
            let mut got = drain(&mut f);
            f.push(&stream[cut..]);
            got.extend(drain(&mut f));
            assert_eq!(got, packets(), "split at byte {cut}");
        }
        // One byte per read, the remaining length's own bytes included.
        let mut f = Framer::default();
        let mut got = Vec::new();
        for b in &stream {
            f.push(std::slice::from_ref(b));
            got.extend(drain(&mut f));
        }
        assert_eq!(got, packets());
    }

    #[test]
    fn remaining_lengths_decode_up_to_four_bytes_and_a_fifth_is_malformed() {
        assert_eq!(packet_len(&[0x40, 0x02, 0, 7]), Ok(Some(4)));
        assert_eq!(packet_len(&[0x40, 0x02, 0]), Ok(None));
        assert_eq!(packet_len(&[0x30]), Ok(None));
        assert_eq!(packet_len(&[0x30, 0x80]), Ok(None));
        // 16,383 = 0xff 0x7f; 2,097,152 = 0x80 0x80 0x80 0x01.
        let mut big = vec![0x30, 0xff, 0x7f];
        big.resize(3 + 16_383, 0);
        assert_eq!(packet_len(&big), Ok(Some(3 + 16_383)));
        assert_eq!(packet_len(&[0x30, 0x80, 0x80, 0x80, 0x01]), Ok(None));
        assert_eq!(
            packet_len(&[0x30, 0x80, 0x80, 0x80, 0x80, 0x01]),
            Err(MalformedLength)
        );
    }

    #[tokio::test]
    async fn the_proxy_drops_pubacks_only_while_dropping_is_on_and_forwards_the_rest() {
        let broker = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let proxy = PubackDropProxy::start(broker.local_addr().expect("addr"), true).await;
        let mut client = TcpStream::connect(proxy.addr()).await.expect("connect");
        let (mut upstream, _) = broker.accept().await.expect("accept");
        // Dropping: the PUBACK goes, the PINGREQ and PUBLISH pass, even sent a byte at a time.
        for b in packets().concat() {
            client.write_all(&[b]).await.expect("write");
        }
        let mut got = vec![0u8; 2 + 203];
        upstream.read_exact(&mut got).await.expect("read");
        assert_eq!(got, [packets()[1].clone(), packets()[2].clone()].concat());
        assert_eq!(proxy.dropped(), 1);
        // Not dropping: PUBACKs pass; the broker's bytes pass back untouched.
        proxy.set_dropping(false);
        client.write_all(&packets()[0]).await.expect("write");
        let mut got = [0u8; 4];
        upstream.read_exact(&mut got).await.expect("read");
        assert_eq!(got.to_vec(), packets()[0]);
        assert_eq!((proxy.dropped(), proxy.forwarded()), (1, 1));
        upstream.write_all(&[0xd0, 0x00]).await.expect("write");
        let mut got = [0u8; 2];
        client.read_exact(&mut got).await.expect("read");
        assert_eq!(got, [0xd0, 0x00]);
        // A cut closes both sides.
        proxy.cut();
        let mut rest = Vec::new();
        let n = tokio::time::timeout(crate::WAIT, client.read_to_end(&mut rest))
            .await
            .expect("closed in time")
            .expect("read");
        assert_eq!(n, 0);
        assert_eq!(proxy.connections(), 1);
    }
}
