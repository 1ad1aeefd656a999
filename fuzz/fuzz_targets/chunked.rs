//! The driver the `decoder` and `wsframe` targets share: a sans-IO decoder
//! fed a byte stream in chunks of fuzzer-chosen sizes, through `decode` or
//! (when `direct`) through `body_buf`/`advance_body` while a body is
//! pending (the stream decoder's target may read past a body there, as
//! `body_buf_ahead` does).

use nanosp_core::Error;

/// What the driver needs of a decoder.
pub trait Feed {
    type Out;
    fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Self::Out>, Error>;
    fn body_buf(&mut self) -> Option<&mut [u8]>;
    /// Commits `n` bytes written at the start of `body_buf`'s slice: what
    /// they completed (more than one output when the slice reached past
    /// the body), or the error in what lay past it.
    fn advance_body(&mut self, n: usize) -> Result<Vec<Self::Out>, Error>;
    /// Writes the start of `src` where `body_buf` lends (a decoder that
    /// lends a `Vec`'s spare capacity instead overrides this): how many
    /// bytes, or `None` while no body is pending.
    fn fill_body(&mut self, src: &[u8]) -> Option<usize> {
        let buf = self.body_buf()?;
        assert!(!buf.is_empty());
        let k = buf.len().min(src.len());
        buf[..k].copy_from_slice(&src[..k]);
        Some(k)
    }
}

/// Splits a target's input into its control byte, up to 4 chunk sizes
/// (each one less than the size) and the stream.
pub fn split(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&ctl, rest) = data.split_first()?;
    let (sizes, stream) = rest.split_at(rest.len().min(4));
    Some((ctl, sizes, stream))
}

/// Feeds `stream` to `dec` in chunks cycling through `sizes` until it ends
/// or the decoder fails. `seen` checks each output and returns how many
/// stream bytes it accounts for; never more than were fed in all.
pub fn feed<D: Feed>(
    dec: &mut D,
    sizes: &[u8],
    stream: &[u8],
    direct: bool,
    mut seen: impl FnMut(D::Out) -> usize,
) {
    let mut sizes = sizes.iter().map(|&s| usize::from(s) + 1).cycle();
    let mut input = stream;
    let (mut fed, mut out) = (0usize, 0usize);
    while !input.is_empty() {
        let n = sizes.next().unwrap_or(usize::MAX).min(input.len());
        let (mut chunk, tail) = input.split_at(n);
        input = tail;
        fed += n;
        while !chunk.is_empty() {
            if direct {
                if let Some(k) = dec.fill_body(chunk) {
                    chunk = &chunk[k..];
                    match dec.advance_body(k) {
                        Ok(done) => out += done.into_iter().map(&mut seen).sum::<usize>(),
                        Err(_) => return,
                    }
                    continue;
                }
            }
            let before = chunk.len();
            match dec.decode(&mut chunk) {
                Ok(Some(o)) => out += seen(o),
                Ok(None) => assert!(chunk.is_empty()),
                Err(_) => return,
            }
            assert!(chunk.len() < before || before == 0);
        }
        // Every byte of a completed output was fed to us.
        assert!(out <= fed);
    }
}
