//! Small future combinators, so the core needs no executor crate.

use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::Poll;

/// Which of two futures finished first.
pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Runs both futures until the first completes; the other is dropped.
/// `a` is polled first, so it wins a tie.
pub(crate) async fn select<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(x) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(x));
        }
        if let Poll::Ready(y) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(y));
        }
        Poll::Pending
    })
    .await
}

/// Runs `fut` with an optional deadline; `None` from the sleep side means
/// timed out. `fut` is pinned by the caller, where it is made, so the
/// caller's future holds it once.
pub(crate) async fn with_deadline<R: crate::Runtime, F: Future>(
    rt: &R,
    deadline: Option<crate::Instant>,
    mut fut: core::pin::Pin<&mut F>,
) -> Option<F::Output> {
    match deadline {
        None => Some(fut.await),
        Some(d) => {
            let mut sleep = pin!(rt.sleep_until(d));
            poll_fn(|cx| {
                if let Poll::Ready(x) = fut.as_mut().poll(cx) {
                    return Poll::Ready(Some(x));
                }
                sleep.as_mut().poll(cx).map(|()| None)
            })
            .await
        }
    }
}
