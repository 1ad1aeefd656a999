//! The machine of a protocol whose cargo feature is off: the socket exists
//! (its protocol's name and number are known), but every operation fails
//! with [`Error::NotSupported`], as nng answers `NNG_ENOTSUP` for a protocol
//! it was built without. It takes no pipe, so nothing reaches it.

use super::{CtxId, Delivery, Io, Machine};
use crate::{Error, Message, PipeId, SendError};

pub(crate) struct Unbuilt;

impl Machine for Unbuilt {
    fn add_pipe(&mut self, _io: &mut Io<'_>, _p: PipeId) -> Result<(), Error> {
        Err(Error::NotSupported)
    }

    fn remove_pipe(&mut self, _io: &mut Io<'_>, _p: PipeId) {}

    fn pipe_recv(&mut self, _io: &mut Io<'_>, _p: PipeId, _m: Message) -> Delivery {
        Delivery::Close(Error::NotSupported)
    }

    fn send(&mut self, _io: &mut Io<'_>, _ctx: CtxId, m: Message) -> Result<(), SendError> {
        Err(SendError::new(Error::NotSupported, m))
    }

    fn recv(&mut self, _io: &mut Io<'_>, _ctx: CtxId) -> Result<Message, Error> {
        Err(Error::NotSupported)
    }
}
