//! The protocols nanosp speaks: their numbers on the wire and their names.
//! A leaf module: it depends on nothing else here but the error type.

use crate::Error;

/// The socket types nanosp speaks, cooked or raw.
///
/// ```
/// use nanosp::Protocol;
/// assert_eq!(Protocol::Pub0.number(), 0x20);
/// assert_eq!(Protocol::Pub0.peer_number(), 0x21);
/// assert_eq!(Protocol::Sub0.name(), "sub");
/// assert_eq!(Protocol::from_name("pull").unwrap(), Protocol::Pull0);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// PAIR v0: one peer, no header.
    Pair0,
    /// PAIR v1 (monogamous): one peer, hop-count header.
    Pair1,
    /// PUB: fan-out to every subscriber.
    Pub0,
    /// SUB: prefix-filtered receive.
    Sub0,
    /// PUSH: load-balanced send.
    Push0,
    /// PULL: fair-queued receive.
    Pull0,
    /// REQ: requests with retries, one reply each.
    Req0,
    /// REP: answers requests, lock-step.
    Rep0,
    /// SURVEYOR: asks everyone, collects answers until a deadline.
    Surveyor0,
    /// RESPONDENT: answers surveys.
    Respondent0,
    /// BUS: everyone hears everyone.
    Bus0,
    /// STAR (mangos, experimental): forwarding with a hop count.
    Star0,
}

impl Protocol {
    /// Every protocol, for tests and tools.
    pub const ALL: [Protocol; 12] = [
        Protocol::Pair0,
        Protocol::Pair1,
        Protocol::Pub0,
        Protocol::Sub0,
        Protocol::Push0,
        Protocol::Pull0,
        Protocol::Req0,
        Protocol::Rep0,
        Protocol::Surveyor0,
        Protocol::Respondent0,
        Protocol::Bus0,
        Protocol::Star0,
    ];

    /// Our 16-bit protocol number (docs/wire.md §1).
    pub const fn number(self) -> u16 {
        match self {
            Protocol::Pair0 => 0x10,
            Protocol::Pair1 => 0x11,
            Protocol::Pub0 => 0x20,
            Protocol::Sub0 => 0x21,
            Protocol::Push0 => 0x50,
            Protocol::Pull0 => 0x51,
            Protocol::Req0 => 0x30,
            Protocol::Rep0 => 0x31,
            Protocol::Surveyor0 => 0x62,
            Protocol::Respondent0 => 0x63,
            Protocol::Bus0 => 0x70,
            Protocol::Star0 => 0x640,
        }
    }

    /// The protocol number a peer must have.
    pub const fn peer_number(self) -> u16 {
        match self {
            Protocol::Pair0 => 0x10,
            Protocol::Pair1 => 0x11,
            Protocol::Pub0 => 0x21,
            Protocol::Sub0 => 0x20,
            Protocol::Push0 => 0x51,
            Protocol::Pull0 => 0x50,
            Protocol::Req0 => 0x31,
            Protocol::Rep0 => 0x30,
            Protocol::Surveyor0 => 0x63,
            Protocol::Respondent0 => 0x62,
            Protocol::Bus0 => 0x70,
            Protocol::Star0 => 0x640,
        }
    }

    /// The name used in WebSocket subprotocols and by nngcat (`"pair1"`, `"sub"`...).
    pub const fn name(self) -> &'static str {
        name_of(self.number())
    }

    /// The peer's name.
    pub const fn peer_name(self) -> &'static str {
        name_of(self.peer_number())
    }

    /// Looks a protocol up by name (`"pair"` is PAIR v1 as in nngcat).
    pub fn from_name(name: &str) -> Result<Protocol, Error> {
        Ok(match name {
            "pair0" => Protocol::Pair0,
            "pair1" | "pair" => Protocol::Pair1,
            "pub" | "pub0" => Protocol::Pub0,
            "sub" | "sub0" => Protocol::Sub0,
            "push" | "push0" => Protocol::Push0,
            "pull" | "pull0" => Protocol::Pull0,
            "req" | "req0" => Protocol::Req0,
            "rep" | "rep0" => Protocol::Rep0,
            "surveyor" | "surveyor0" => Protocol::Surveyor0,
            "respondent" | "respondent0" => Protocol::Respondent0,
            "bus" | "bus0" => Protocol::Bus0,
            "star" => Protocol::Star0,
            _ => return Err(Error::InvalidArgument),
        })
    }
}

/// The name of a protocol number, or `"unknown"`.
pub const fn name_of(n: u16) -> &'static str {
    match n {
        0x10 => "pair",
        0x11 => "pair1",
        0x20 => "pub",
        0x21 => "sub",
        0x30 => "req",
        0x31 => "rep",
        0x50 => "push",
        0x51 => "pull",
        0x62 => "surveyor",
        0x63 => "respondent",
        0x70 => "bus",
        0x640 => "star",
        _ => "unknown",
    }
}
