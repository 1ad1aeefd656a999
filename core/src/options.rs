//! Socket options, named and defaulted as in nng (docs/wire.md §5).
//!
//! | option | nng name | nanosp default | nng default |
//! |---|---|---|---|
//! | [`SockOpt::RecvTimeout`] | `recv-timeout` | none (wait forever) | -1 (forever) |
//! | [`SockOpt::SendTimeout`] | `send-timeout` | none (wait forever) | -1 (forever) |
//! | [`SockOpt::RecvMaxSize`] | `recv-size-max` | 1 MiB of body (0 = unlimited) | 0 in nng 1.2–1.12, 1 GiB in 2.0; mangos 1 MiB |
//! | [`SockOpt::SendBuffer`] | `send-buffer` | per protocol (PUB 16 per pipe, PUSH 0) | same |
//! | [`SockOpt::RecvBuffer`] | `recv-buffer` | per protocol (SUB 128, others 16) | SUB 128 |
//! | [`SockOpt::TtlMax`] | `ttl-max` | 8 (1–15) | 8 (1–15) |
//! | [`SockOpt::ReconnectTimeMin`] | `reconnect-time-min` | 1 s | 1 s |
//! | [`SockOpt::ReconnectTimeMax`] | `reconnect-time-max` | 0 (no growth) | 0 (no growth) |
//! | [`SockOpt::HandshakeTimeout`] | — | 10 s | 10 s (fixed in nng) |
//! | [`SockOpt::ReqResendTime`] | `req:resend-time` | 60 s | 60 s (checked every 1 s tick) |
//! | [`SockOpt::SurveyTime`] | `surveyor:survey-time` | 1 s | 1 s |
//! | [`SockOpt::Linger`] | `linger` | 0 (close drops what is queued) | none (nng 1.x has no linger; mangos has one) |
//!
//! With reconnect-time-max > min the wait doubles after each failed attempt up
//! to the max; every wait is drawn uniformly from `[0, current)` (nng's jitter).

use alloc::vec::Vec;
use core::time::Duration;

use crate::Error;

/// One option and its value.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SockOpt {
    /// `recv-timeout`: how long `recv` waits; `None` = forever.
    RecvTimeout(Option<Duration>),
    /// `send-timeout`: how long `send` waits; `None` = forever.
    SendTimeout(Option<Duration>),
    /// `recv-size-max`: largest accepted message body; 0 = unlimited. The
    /// protocol header (request ids, backtraces: at most
    /// [`crate::HEADER_CAPACITY`] bytes) comes on top, so the default admits
    /// a 1 MiB body from an nng peer, whose frames carry that header too (nng
    /// and mangos count header + body; a peer's frame over the limit closes
    /// that pipe with [`crate::Error::MessageTooLong`], counted in
    /// [`crate::Stats::oversized`]).
    RecvMaxSize(usize),
    /// `send-buffer`: messages queued by the protocol (0–8192).
    SendBuffer(usize),
    /// `recv-buffer`: messages queued for the application (0–8192).
    RecvBuffer(usize),
    /// `ttl-max`: hop limit for forwarded protocols (1–15).
    TtlMax(u8),
    /// `reconnect-time-min`: first redial wait.
    ReconnectTimeMin(Duration),
    /// `reconnect-time-max`: cap of the growing wait; zero = no growth.
    ReconnectTimeMax(Duration),
    /// Time a peer has to complete the SP handshake.
    HandshakeTimeout(Duration),
    /// `sub:subscribe`: receive messages whose body starts with these bytes.
    Subscribe(Vec<u8>),
    /// `sub:unsubscribe`.
    Unsubscribe(Vec<u8>),
    /// `sub:prefnew`: on a full queue drop the oldest (true) or the newest.
    SubPreferNew(bool),
    /// `req:resend-time`: resend an unanswered request after this long;
    /// `None` (or zero) never resends. Default 60 s.
    ReqResendTime(Option<Duration>),
    /// `surveyor:survey-time`: how long a survey collects responses. Default 1 s.
    SurveyTime(Duration),
    /// `linger`: how long a lingering close ([`crate::Socket::close_linger`],
    /// the blocking API's `close` and drop) waits for queued messages to be
    /// written before it closes the pipes. Default zero: close at once and
    /// drop what is queued, as nng (which has no linger); mangos has the same
    /// option.
    Linger(Duration),
}

impl SockOpt {
    /// The nng name of this option.
    pub fn name(&self) -> &'static str {
        match self {
            SockOpt::RecvTimeout(_) => "recv-timeout",
            SockOpt::SendTimeout(_) => "send-timeout",
            SockOpt::RecvMaxSize(_) => "recv-size-max",
            SockOpt::SendBuffer(_) => "send-buffer",
            SockOpt::RecvBuffer(_) => "recv-buffer",
            SockOpt::TtlMax(_) => "ttl-max",
            SockOpt::ReconnectTimeMin(_) => "reconnect-time-min",
            SockOpt::ReconnectTimeMax(_) => "reconnect-time-max",
            SockOpt::HandshakeTimeout(_) => "handshake-timeout",
            SockOpt::Subscribe(_) => "sub:subscribe",
            SockOpt::Unsubscribe(_) => "sub:unsubscribe",
            SockOpt::SubPreferNew(_) => "sub:prefnew",
            SockOpt::ReqResendTime(_) => "req:resend-time",
            SockOpt::SurveyTime(_) => "surveyor:survey-time",
            SockOpt::Linger(_) => "linger",
        }
    }

    /// Parses an option from its nng name and a textual value: durations in
    /// milliseconds (`-1` = forever), sizes as integers, booleans as
    /// `true`/`false`, topics as text.
    ///
    /// ```
    /// use nanosp_core::SockOpt;
    /// use core::time::Duration;
    /// assert_eq!(SockOpt::parse("recv-timeout", "250").unwrap(),
    ///            SockOpt::RecvTimeout(Some(Duration::from_millis(250))));
    /// assert_eq!(SockOpt::parse("send-timeout", "-1").unwrap(), SockOpt::SendTimeout(None));
    /// ```
    pub fn parse(name: &str, value: &str) -> Result<SockOpt, Error> {
        // One integer reader for every kind (as `str::parse` reads them:
        // an optional sign, decimal digits, no overflow); three `parse`
        // instantiations were a kilobyte of the browser package.
        let int = |v: &str| -> Result<(bool, u64), Error> {
            crate::text::read_int(v.trim()).ok_or(Error::InvalidArgument)
        };
        let ms = |v: &str| -> Result<Option<Duration>, Error> {
            match int(v)? {
                (true, 1) => Ok(None),
                (false, n) if n <= i64::MAX as u64 => Ok(Some(Duration::from_millis(n))),
                (true, 0) => Ok(Some(Duration::ZERO)),
                _ => Err(Error::InvalidArgument),
            }
        };
        let size = |v: &str| -> Result<usize, Error> {
            match int(v)? {
                (false, n) => usize::try_from(n).map_err(|_| Error::InvalidArgument),
                (true, _) => Err(Error::InvalidArgument),
            }
        };
        let dur = |v: &str| ms(v)?.ok_or(Error::InvalidArgument);
        Ok(match name {
            "recv-timeout" => SockOpt::RecvTimeout(ms(value)?),
            "send-timeout" => SockOpt::SendTimeout(ms(value)?),
            "recv-size-max" => SockOpt::RecvMaxSize(size(value)?),
            "send-buffer" => SockOpt::SendBuffer(size(value)?),
            "recv-buffer" => SockOpt::RecvBuffer(size(value)?),
            "ttl-max" => {
                SockOpt::TtlMax(u8::try_from(size(value)?).map_err(|_| Error::InvalidArgument)?)
            }
            "reconnect-time-min" => SockOpt::ReconnectTimeMin(dur(value)?),
            "reconnect-time-max" => SockOpt::ReconnectTimeMax(dur(value)?),
            "handshake-timeout" => SockOpt::HandshakeTimeout(dur(value)?),
            "sub:subscribe" => SockOpt::Subscribe(value.as_bytes().to_vec()),
            "sub:unsubscribe" => SockOpt::Unsubscribe(value.as_bytes().to_vec()),
            "sub:prefnew" => SockOpt::SubPreferNew(match value.trim() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(Error::InvalidArgument),
            }),
            "req:resend-time" => SockOpt::ReqResendTime(ms(value)?.filter(|d| !d.is_zero())),
            "surveyor:survey-time" => SockOpt::SurveyTime(dur(value)?),
            "linger" => SockOpt::Linger(dur(value)?),
            _ => return Err(Error::NotSupported),
        })
    }
}

/// The engine-level options of a socket (protocol options live in the machine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// See [`SockOpt::RecvTimeout`].
    pub recv_timeout: Option<Duration>,
    /// See [`SockOpt::SendTimeout`].
    pub send_timeout: Option<Duration>,
    /// See [`SockOpt::RecvMaxSize`].
    pub recv_max_size: usize,
    /// See [`SockOpt::ReconnectTimeMin`].
    pub reconnect_min: Duration,
    /// See [`SockOpt::ReconnectTimeMax`].
    pub reconnect_max: Duration,
    /// See [`SockOpt::HandshakeTimeout`].
    pub handshake_timeout: Duration,
    /// See [`SockOpt::TtlMax`].
    pub ttl_max: u8,
    /// See [`SockOpt::Linger`].
    pub linger: Duration,
}

/// Default `recv-size-max`: 1 MiB of body (mangos and nanomsg: 1 MiB of
/// header + body; nng 1.x: unlimited). Unlimited would let any peer make
/// us buffer whatever it sends; 1 MiB of body still takes what nng's and
/// mangos' tools send by default.
pub const DEFAULT_RECV_MAX_SIZE: usize = 1 << 20;

impl Default for Options {
    fn default() -> Self {
        Options {
            recv_timeout: None,
            send_timeout: None,
            recv_max_size: DEFAULT_RECV_MAX_SIZE,
            reconnect_min: Duration::from_millis(1000),
            reconnect_max: Duration::ZERO,
            handshake_timeout: Duration::from_secs(10),
            ttl_max: 8,
            linger: Duration::ZERO,
        }
    }
}

impl Options {
    /// The largest frame (SP header + body) a transport accepts:
    /// `recv-size-max` plus room for the largest header, 0 if unlimited.
    ///
    /// ```
    /// use nanosp_core::{Options, HEADER_CAPACITY};
    /// assert_eq!(Options::default().frame_limit(), (1 << 20) + HEADER_CAPACITY);
    /// ```
    pub fn frame_limit(&self) -> usize {
        match self.recv_max_size {
            0 => 0,
            n => n.saturating_add(crate::HEADER_CAPACITY),
        }
    }

    /// Applies an engine-level option; returns false if it is not one.
    pub(crate) fn apply(&mut self, o: &SockOpt) -> Result<bool, Error> {
        match *o {
            SockOpt::RecvTimeout(d) => self.recv_timeout = d,
            SockOpt::SendTimeout(d) => self.send_timeout = d,
            SockOpt::RecvMaxSize(n) => self.recv_max_size = n,
            SockOpt::ReconnectTimeMin(d) => self.reconnect_min = d,
            SockOpt::ReconnectTimeMax(d) => self.reconnect_max = d,
            SockOpt::HandshakeTimeout(d) => self.handshake_timeout = d,
            SockOpt::Linger(d) => self.linger = d,
            SockOpt::TtlMax(t) => {
                if !(1..=15).contains(&t) {
                    return Err(Error::InvalidArgument);
                }
                self.ttl_max = t;
                return Ok(false); // the machine wants it too
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What `parse` gave when it read numbers with `str::parse`.
    fn reference(name: &str, v: &str) -> Result<SockOpt, Error> {
        let v = v.trim();
        let bad = |_| Error::InvalidArgument;
        let ms = |v: &str| -> Result<Option<Duration>, Error> {
            match v.parse::<i64>().map_err(bad)? {
                -1 => Ok(None),
                n if n >= 0 => Ok(Some(Duration::from_millis(n as u64))),
                _ => Err(Error::InvalidArgument),
            }
        };
        Ok(match name {
            "recv-timeout" => SockOpt::RecvTimeout(ms(v)?),
            "linger" => SockOpt::Linger(ms(v)?.ok_or(Error::InvalidArgument)?),
            "recv-size-max" => SockOpt::RecvMaxSize(v.parse().map_err(bad)?),
            "ttl-max" => SockOpt::TtlMax(v.parse().map_err(bad)?),
            _ => unreachable!(),
        })
    }

    fn same(v: &str) {
        for name in ["recv-timeout", "linger", "recv-size-max", "ttl-max"] {
            assert_eq!(SockOpt::parse(name, v), reference(name, v), "{name} {v:?}");
        }
    }

    #[test]
    fn numbers_are_read_as_str_parse_reads_them() {
        for v in [
            "",
            " ",
            "0",
            "-0",
            "+0",
            "1",
            "-1",
            "+1",
            "-2",
            "255",
            "256",
            "-255",
            "15",
            " 42 ",
            "4 2",
            "1e3",
            "0x10",
            "+",
            "-",
            "--1",
            "+-1",
            "١",
            "007",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999999",
        ] {
            same(v);
        }
    }

    proptest! {
        #[test]
        fn any_number_text_reads_the_same(v in "[ +-]?[+-]?[0-9]{0,21} ?") {
            same(&v);
        }
    }
}
