//! The protocols nanosp speaks: their numbers on the wire and their names,
//! in one table. A leaf module: it depends on nothing else here.

use core::fmt;

/// The socket types nanosp speaks, cooked or raw.
///
/// # Names
///
/// Each protocol has one **name**, nng's: the name nng reports as a
/// socket's `NNG_OPT_PROTONAME` (and `NNG_OPT_PEERNAME` for its peer), the
/// name mangos and nanomsg use, and the one the WebSocket subprotocol
/// carries (`<name>.sp.nanomsg.org`, docs/wire.md §3). [`Protocol::name`] gives
/// it. PAIR v0 is `"pair"` and PAIR v1 `"pair1"`, as in nng.
///
/// [`Protocol::from_name`] takes that name or the versioned spelling of
/// nng's API (`nng_pair0_open`, pynng's `Pair0`): `"pair0"`, `"pair1"`,
/// `"req0"`, `"pub0"`, ..., `"star0"`; ASCII case is ignored. So
/// `"pair"` and `"pair0"` are both PAIR v0.
///
/// Command-line flags are not names: nngcat's (and spcat's) `--pair` is
/// PAIR v1, its newest PAIR (v0 with `--compat`); spcat keeps that flag.
///
/// | protocol | number | name | also accepted | peer |
/// |---|---|---|---|---|
/// | [`Pair0`](Protocol::Pair0) | 0x10 | `pair` | `pair0` | `pair` |
/// | [`Pair1`](Protocol::Pair1) | 0x11 | `pair1` | | `pair1` |
/// | [`Pub0`](Protocol::Pub0) | 0x20 | `pub` | `pub0` | `sub` |
/// | [`Sub0`](Protocol::Sub0) | 0x21 | `sub` | `sub0` | `pub` |
/// | [`Req0`](Protocol::Req0) | 0x30 | `req` | `req0` | `rep` |
/// | [`Rep0`](Protocol::Rep0) | 0x31 | `rep` | `rep0` | `req` |
/// | [`Push0`](Protocol::Push0) | 0x50 | `push` | `push0` | `pull` |
/// | [`Pull0`](Protocol::Pull0) | 0x51 | `pull` | `pull0` | `push` |
/// | [`Surveyor0`](Protocol::Surveyor0) | 0x62 | `surveyor` | `surveyor0` | `respondent` |
/// | [`Respondent0`](Protocol::Respondent0) | 0x63 | `respondent` | `respondent0` | `surveyor` |
/// | [`Bus0`](Protocol::Bus0) | 0x70 | `bus` | `bus0` | `bus` |
/// | [`Star0`](Protocol::Star0) | 0x640 | `star` (mangos) | `star0` | `star` |
///
/// ```
/// use nanosp_core::Protocol;
/// assert_eq!(Protocol::Pub0.number(), 0x20);
/// assert_eq!(Protocol::Pub0.peer_number(), 0x21);
/// assert_eq!(Protocol::Sub0.name(), "sub");
/// assert_eq!(Protocol::Pair0.name(), "pair");
/// assert_eq!(Protocol::from_name("pull").unwrap(), Protocol::Pull0);
/// assert_eq!(Protocol::from_name("pair").unwrap(), Protocol::Pair0);
/// assert_eq!(Protocol::from_name("pair1").unwrap(), Protocol::Pair1);
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

/// One row of the table: protocol, number, peer number, name, versioned name.
#[derive(Clone, Copy)]
struct Row(Protocol, u16, u16, &'static str, &'static str);

/// The one table of protocol numbers and names (docs/wire.md §1, §3).
const TABLE: [Row; 12] = [
    Row(Protocol::Pair0, 0x10, 0x10, "pair", "pair0"),
    Row(Protocol::Pair1, 0x11, 0x11, "pair1", "pair1"),
    Row(Protocol::Pub0, 0x20, 0x21, "pub", "pub0"),
    Row(Protocol::Sub0, 0x21, 0x20, "sub", "sub0"),
    Row(Protocol::Push0, 0x50, 0x51, "push", "push0"),
    Row(Protocol::Pull0, 0x51, 0x50, "pull", "pull0"),
    Row(Protocol::Req0, 0x30, 0x31, "req", "req0"),
    Row(Protocol::Rep0, 0x31, 0x30, "rep", "rep0"),
    Row(Protocol::Surveyor0, 0x62, 0x63, "surveyor", "surveyor0"),
    Row(
        Protocol::Respondent0,
        0x63,
        0x62,
        "respondent",
        "respondent0",
    ),
    Row(Protocol::Bus0, 0x70, 0x70, "bus", "bus0"),
    Row(Protocol::Star0, 0x640, 0x640, "star", "star0"),
];

// Columns of the table, for accessors that need only one: only the columns
// a program uses are in its binary (firmware reads numbers and names).
const NUMBERS: [u16; 12] = {
    let mut c = [0; 12];
    let mut i = 0;
    while i < 12 {
        c[i] = TABLE[i].1;
        i += 1;
    }
    c
};
const PEERS: [u16; 12] = {
    let mut c = [0; 12];
    let mut i = 0;
    while i < 12 {
        c[i] = TABLE[i].2;
        i += 1;
    }
    c
};
const NAMES: [&str; 12] = {
    let mut c = [""; 12];
    let mut i = 0;
    while i < 12 {
        c[i] = TABLE[i].3;
        i += 1;
    }
    c
};

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

    // The table is in `ALL`'s order (a unit test checks it), so a
    // protocol's discriminant is its row.

    /// Whether this protocol's machine is compiled in: its cargo feature of
    /// `nanosp-core` (`req0`, `rep0`, ..., all of them by default). A
    /// socket opened for a protocol left out fails every operation with
    /// [`Error::NotSupported`](crate::Error::NotSupported).
    ///
    /// ```
    /// use nanosp_core::Protocol;
    /// assert_eq!(Protocol::Req0.is_built(), cfg!(feature = "req0"));
    /// ```
    pub const fn is_built(self) -> bool {
        match self {
            Protocol::Pair0 => cfg!(feature = "pair0"),
            Protocol::Pair1 => cfg!(feature = "pair1"),
            Protocol::Pub0 => cfg!(feature = "pub0"),
            Protocol::Sub0 => cfg!(feature = "sub0"),
            Protocol::Push0 => cfg!(feature = "push0"),
            Protocol::Pull0 => cfg!(feature = "pull0"),
            Protocol::Req0 => cfg!(feature = "req0"),
            Protocol::Rep0 => cfg!(feature = "rep0"),
            Protocol::Surveyor0 => cfg!(feature = "surveyor0"),
            Protocol::Respondent0 => cfg!(feature = "respondent0"),
            Protocol::Bus0 => cfg!(feature = "bus0"),
            Protocol::Star0 => cfg!(feature = "star0"),
        }
    }

    /// Our 16-bit protocol number (docs/wire.md §1).
    pub const fn number(self) -> u16 {
        NUMBERS[self as usize]
    }

    /// The protocol number a peer must have.
    pub const fn peer_number(self) -> u16 {
        PEERS[self as usize]
    }

    /// nng's name (`"pair"` for PAIR v0, `"pair1"`, `"sub"`, ...): see
    /// [Names](Protocol#names).
    pub const fn name(self) -> &'static str {
        NAMES[self as usize]
    }

    /// The peer's name.
    pub const fn peer_name(self) -> &'static str {
        name_of(self.peer_number())
    }

    /// The versioned spelling (`"pair0"`, `"req0"`, ..., `"pair1"`), as in
    /// nng's `nng_req0_open`.
    pub const fn versioned_name(self) -> &'static str {
        TABLE[self as usize].4
    }

    /// The protocol of a number, if nanosp speaks it.
    pub fn from_number(n: u16) -> Option<Protocol> {
        let i = NUMBERS.iter().position(|&m| m == n)?;
        Some(Protocol::ALL[i])
    }

    /// Looks a protocol up by its name or versioned spelling, ignoring ASCII
    /// case: `"pair"` and `"pair0"` are PAIR v0, `"pair1"` PAIR v1 (see
    /// [Names](Protocol#names)).
    pub fn from_name(name: &str) -> Result<Protocol, UnknownProtocol> {
        TABLE
            .iter()
            .find(|r| r.3.eq_ignore_ascii_case(name) || r.4.eq_ignore_ascii_case(name))
            .map(|r| r.0)
            .ok_or(UnknownProtocol)
    }
}

impl fmt::Display for Protocol {
    /// nng's name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// [`Protocol::from_name`] was given a name no protocol has (an
/// [`crate::Error::InvalidArgument`] once converted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownProtocol;

impl fmt::Display for UnknownProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown protocol name")
    }
}

impl core::error::Error for UnknownProtocol {}

/// nng's name of a protocol number, or `"unknown"`.
pub const fn name_of(n: u16) -> &'static str {
    let mut i = 0;
    while i < NUMBERS.len() {
        if NUMBERS[i] == n {
            return NAMES[i];
        }
        i += 1;
    }
    "unknown"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_order_and_round_trips() {
        for (i, p) in Protocol::ALL.iter().enumerate() {
            assert_eq!(TABLE[i].0, *p);
            assert_eq!(Protocol::from_name(p.name()), Ok(*p));
            assert_eq!(Protocol::from_name(p.versioned_name()), Ok(*p));
            assert_eq!(Protocol::from_number(p.number()), Some(*p));
            assert_eq!(name_of(p.number()), p.name());
            let peer = Protocol::from_number(p.peer_number()).unwrap();
            assert_eq!(peer.peer_number(), p.number());
            assert_eq!(p.peer_name(), peer.name());
        }
        assert_eq!(Protocol::from_name("PAIR"), Ok(Protocol::Pair0));
        assert_eq!(Protocol::from_name("Req0"), Ok(Protocol::Req0));
        assert_eq!(Protocol::from_name("pair2"), Err(UnknownProtocol));
        assert_eq!(Protocol::from_name(""), Err(UnknownProtocol));
        assert_eq!(name_of(0x99), "unknown");
    }
}
