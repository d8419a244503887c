//! One connection's bytes: the workspace's sans-IO framing over a tokio TCP stream.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use xmpp_tether::framing::{
    FramingError, Limits, StreamEvent, StreamHeader, StreamParser, StreamWriter,
};
use xmpp_tether::minidom::Element;

/// What reading a connection can end with.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer sent something that is not an XMPP stream within the limits: answer with
    /// this stream error, then close.
    Framing(FramingError),
    /// The TCP connection broke or closed without `</stream:stream>`.
    Lost(
        #[expect(
            dead_code,
            reason = "kept for a debugger; the server treats every loss alike"
        )]
        io::Error,
    ),
}

/// The reading and writing halves of one client connection.
pub(crate) struct Io {
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
    parser: StreamParser,
    writer: StreamWriter,
    buf: Vec<u8>,
    out: Vec<u8>,
    trace: Option<String>,
}

impl Io {
    pub(crate) fn new(socket: TcpStream, trace: Option<String>) -> Self {
        let _ = socket.set_nodelay(true);
        let (read, write) = socket.into_split();
        Self {
            read,
            write,
            parser: StreamParser::new(Limits::default()),
            writer: StreamWriter::new(),
            buf: vec![0; 16 * 1024],
            out: Vec::new(),
            trace,
        }
    }

    /// The next stream event. Cancel-safe: bytes read are fed to the parser before any other
    /// await point, so `select!` may drop this future at any time.
    pub(crate) async fn next(&mut self) -> Result<StreamEvent, ReadError> {
        loop {
            if let Some(event) = self.parser.poll().map_err(ReadError::Framing)? {
                if let (Some(tag), StreamEvent::Element(el)) = (&self.trace, &event) {
                    eprintln!("[{tag}] C: {}", String::from(el));
                }
                return Ok(event);
            }
            let n = self
                .read
                .read(&mut self.buf)
                .await
                .map_err(ReadError::Lost)?;
            if n == 0 {
                return Err(ReadError::Lost(io::ErrorKind::UnexpectedEof.into()));
            }
            self.parser.feed(&self.buf[..n]);
        }
    }

    /// RFC 6120 §4.3.3: after SASL success the client opens a new stream.
    pub(crate) fn restart(&mut self) {
        self.parser.restart();
    }

    pub(crate) async fn header(&mut self, header: &StreamHeader) -> io::Result<()> {
        self.writer.header(header, &mut self.out);
        self.flush().await
    }

    pub(crate) async fn send(&mut self, element: &Element) -> io::Result<()> {
        if let Some(tag) = &self.trace {
            eprintln!("[{tag}] S: {}", String::from(element));
        }
        self.writer
            .element(element, &mut self.out)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.flush().await
    }

    /// Writes `</stream:stream>` and shuts the write side down.
    pub(crate) async fn end(&mut self) {
        self.writer.end(&mut self.out);
        let _ = self.flush().await;
        let _ = self.write.shutdown().await;
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.write.write_all(&self.out).await?;
        self.out.clear();
        Ok(())
    }
}
